import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerTokens(on api: RouterGroup<PortcullisContext>) {
        api.post("/tokens") { request, context in
            let body = try await decode(CreateTokenRequest.self, request, context)
            let (record, secret) = try await control.createToken(name: body.name, scope: body.scope)
            return try json(TokenBody(record, token: secret), status: .created)
        }
        api.get("/tokens") { _, _ in
            try json(try await control.tokens().map { TokenBody($0, token: nil) })
        }
        api.delete("/tokens/:id") { _, context in
            try await control.removeToken(id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
    }
}

extension TokenBody {
    init(_ r: VendorTokenRecord, token: String?) {
        self.init(id: r.id, name: r.name, scope: r.scope.rawValue, token: token, createdAt: r.createdAt)
    }
}
