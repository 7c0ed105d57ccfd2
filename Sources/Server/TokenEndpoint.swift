import Access
import Foundation
import HTTPTypes
import Hummingbird
import Licensing
import NIOCore
import OCI

/// `GET /v2/token`: Docker's token flow. Any username; the password is the license ID
/// (or a vendor token). The token grants only what the access policy allows of what was asked.
struct TokenEndpoint {
    let c: Components

    func issue(_ request: Request, address: PublicAddress, outcome: inout RegistryEndpoints.Outcome) async throws -> Response {
        guard request.method == .get else { throw RegistryError(.unsupported, "use GET with Basic credentials") }
        guard let header = request.headers[.authorization], let basic = BasicCredentials.parse(authorization: header) else {
            throw TokenRefusal(message: "credentials required: username anything, password the license ID")
        }
        let principal: Principal
        do {
            principal = try await c.gate.authenticate(basic: basic)
        } catch let refusal as GateRefusal {
            throw TokenRefusal(message: refusal.message)
        }
        if case .customer(let license) = principal {
            outcome.customerID = license.customerID
            outcome.appSlug = license.appSlug
        }
        let scopes = request.uri.queryParameters.getAll("scope").flatMap { RepositoryScope.parseAll(String($0)) }
        outcome.repository = scopes.map(\.name).joined(separator: " ")
        var access: [TokenAccess] = []
        for scope in scopes {
            guard let name = try? RepositoryName(parsing: scope.name) else { continue }
            let granted = scope.actions.filter { action in
                guard let action = RegistryAction(rawValue: action == "*" ? "delete" : action) else { return false }
                return AccessPolicy.decide(principal, action, on: name) == .allow
            }
            if !granted.isEmpty { access.append(TokenAccess(name: name.description, actions: granted)) }
        }
        let subject = try await c.gate.subject(for: basic, principal: principal)
        let issued = try await c.tokens.issue(subject: subject, audience: address.service, access: access)
        struct Body: Encodable {
            var token: String
            var access_token: String
            var expires_in: Int
            var issued_at: Date
        }
        return try .json(Body(token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt))
    }
}

/// A failed login at the token endpoint: 401 with a Basic challenge, never a token.
struct TokenRefusal: Error {
    var message: String
}
