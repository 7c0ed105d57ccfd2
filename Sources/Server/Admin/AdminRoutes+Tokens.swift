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
        api.get("/signing-keys") { _, _ in
            let keys = try await control.signingKeys()
            return try json(keys.enumerated().map { SigningKeyBody(keyID: $1.keyID, createdAt: $1.createdAt, signing: $0 == 0) })
        }
        api.post("/signing-keys") { _, _ in
            let key = try await control.rotateSigningKey(tokens: c.tokens)
            return try json(SigningKeyBody(keyID: key.keyID, createdAt: key.createdAt, signing: true), status: .created)
        }
    }
}

extension TokenBody {
    init(_ r: VendorTokenRecord, token: String?) {
        self.init(id: r.id, name: r.name, scope: r.scope.rawValue, token: token, createdAt: r.createdAt)
    }
}
