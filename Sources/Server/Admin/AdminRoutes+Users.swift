import ControlPlane
import Foundation
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerUsers(on api: RouterGroup<PortcullisContext>) {
        api.post("/users") { request, context in
            let body = try await decode(CreateUserRequest.self, request, context)
            guard let role = UserRecord.Role(rawValue: body.role ?? "admin") else {
                throw AdminError.badRequest("role is admin or read-only")
            }
            let user = try await control.createUser(email: body.email, password: body.password, role: role, actor: "api:admin")
            return try json(UserBody(user), status: .created)
        }
        api.get("/users") { _, _ in
            try json(try await control.users().map(UserBody.init))
        }
        api.delete("/users/:id") { _, context in
            let id = try context.parameters.require("id")
            try await control.removeUser(id: id.removingPercentEncoding ?? id, actor: "api:admin")
            return Response(status: .noContent)
        }
        api.get("/audit") { request, _ in
            let limit = request.uri.queryParameters["limit"].flatMap { Int($0) } ?? 200
            return try json(try await control.auditEvents(limit: limit).map {
                AuditBody(at: $0.at, actor: $0.actor, action: $0.action, subject: $0.subject)
            })
        }
    }
}

extension UserBody {
    init(_ user: UserRecord) {
        self.init(id: user.id, email: user.email, role: user.role.rawValue, createdAt: user.createdAt)
    }
}
