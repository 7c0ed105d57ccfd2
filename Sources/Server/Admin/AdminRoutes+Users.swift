import ControlPlane
import Foundation
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerUsers(on api: RouterGroup<PortcullisContext>) {
        route(API.createUser, on: api) { call in
            let body = call.body
            guard let role = UserRecord.Role(rawValue: body.role ?? "admin") else {
                throw AdminError.badRequest("role is admin or read-only")
            }
            let user = try await control.createUser(email: body.email, password: body.password, role: role, actor: "api:admin")
            return UserBody(user)
        }
        route(API.users, on: api) { _ in
            try await control.users().map(UserBody.init)
        }
        route(API.removeUser, on: api) { call in
            let id = try call.parameter("id")
            try await control.removeUser(id: id.removingPercentEncoding ?? id, actor: "api:admin")
            return Nothing()
        }
        route(API.audit, on: api) { call in
            let limit = try call.count("limit", fallback: 200, in: 1...1000)
            return try await control.auditEvents(limit: limit).map {
                AuditBody(at: $0.at, actor: $0.actor, action: $0.action, subject: $0.subject)
            }
        }
    }
}

extension UserBody {
    init(_ user: UserRecord) {
        self.init(id: user.id, email: user.email, role: user.role.rawValue, createdAt: user.createdAt)
    }
}
