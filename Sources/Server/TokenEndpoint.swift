import Access
import Foundation
import HTTPTypes
import Hummingbird
import Licensing
import NIOCore
import OCI

/// `GET /v2/token`: Docker's token flow. Any username; the password is the license ID
/// (or a vendor token). The token grants only what the access rules allow of what was asked.
struct TokenEndpoint {
    let c: Components
    static let mostRepositories = 100

    func issue(_ request: Request, context: PortcullisContext, address: PublicAddress) async throws -> Response {
        guard request.method == .get else { throw RegistryError(.unsupported, "use GET with Basic credentials") }
        let scopes = RepositoryScope.merged(request.uri.queryParameters.getAll("scope").flatMap { RepositoryScope.parseAll(String($0)) })
        // Clients ask for a handful; each is checked (for anonymous callers, looked up) and signed.
        guard scopes.count <= Self.mostRepositories else {
            throw RegistryError(.unsupported, "a token covers at most \(Self.mostRepositories) repositories; ask for fewer scopes", status: 400)
        }
        guard let header = request.headers[.authorization] else {
            return try await issueAnonymous(scopes: scopes, context: context, address: address)
        }
        let (basic, principal) = try await LoginThrottling(c: c).authenticate(header, request, context: context)
        if case .customer(let license) = principal {
            context.outcome.update {
                $0.customerID = license.customerID
                $0.appSlug = license.appSlug
            }
        }
        do {
            try c.resolver.admit(principal)
        } catch let refusal as AccessRefusal {
            throw TokenRefusal(message: refusal.message)
        }
        context.outcome.update { $0.repository = scopes.map(\.name).joined(separator: " ") }
        let now = Date()
        let access = scopes.compactMap { scope -> TokenAccess? in
            let granted = AccessRules.grantable(scope, to: principal, now: now)
            return granted.isEmpty ? nil : TokenAccess(name: scope.name, actions: granted)
        }
        return try await respond(subject: try await c.gate.subject(for: basic, principal: principal), access: access, address: address)
    }

    /// No credentials: a token for the requested repositories the vendor made public, pull only,
    /// within the per-address rate. Nothing public asked for is the usual 401: no credentials
    /// never become access to anything else.
    private func issueAnonymous(scopes: [RepositoryScope], context: PortcullisContext, address: PublicAddress) async throws -> Response {
        context.outcome.update { $0.repository = scopes.map(\.name).joined(separator: " ") }
        var access: [TokenAccess] = []
        for scope in scopes where scope.actions.contains("pull") {
            guard let name = try? RepositoryName(parsing: scope.name), try await c.resolver.isPublic(name) else { continue }
            access.append(TokenAccess(name: scope.name, actions: ["pull"]))
        }
        guard !access.isEmpty else { throw TokenRefusal(message: "credentials required: username anything, password the license ID") }
        try AnonymousAccess(c: c).admit(context)
        return try await respond(subject: LicenseGate.anonymousSubject, access: access, address: address)
    }

    private func respond(subject: String, access: [TokenAccess], address: PublicAddress) async throws -> Response {
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

/// The per-address rate of anonymous requests.
struct AnonymousAccess {
    let c: Components

    func admit(_ context: PortcullisContext) throws {
        if let retryAfter = c.anonymousRate.admit(context.remoteAddress?.ipAddress ?? "unknown") {
            throw RegistryError(.tooManyRequests, "too many anonymous requests from this address; log in with a license or retry later",
                                retryAfter: Int(retryAfter.rounded(.up)))
        }
    }
}
