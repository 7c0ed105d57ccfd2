import Foundation
import OCI

/// The `Authorization` value that logs in to a vendor's registry right now: static
/// credentials as they are, an ECR access key exchanged for a registry password that every
/// request shares until shortly before it runs out (one token request however many pulls wait).
public struct RegistryLogins: Sendable {
    let tokens: UpstreamTokenCache
    let ecr: ECRTokenClient
    /// The cache scope under which a registry's exchanged password is kept.
    static let loginScope = "\u{0}login"

    public init(tokens: UpstreamTokenCache, ecr: ECRTokenClient) {
        self.tokens = tokens
        self.ecr = ecr
    }

    /// A Basic `Authorization` value, or nil for an anonymous login.
    public func authorization(for target: UpstreamTarget) async throws -> String? {
        switch target.login {
        case .anonymous:
            return nil
        case .basic(let credentials):
            return credentials.headerValue
        case .ecr(let access):
            let ecr = self.ecr
            return try await tokens.authorization(registry: target.tokenKey, scope: Self.loginScope) {
                let now = Date()
                let token = try await ecr.token(access, for: target, now: now)
                return ("Basic " + token.basicValue, token.reuseUntil(now: now).timeIntervalSince(now))
            }
        }
    }

    /// The registry refused `authorization`: an exchanged password is fetched anew next time
    /// (unless a concurrent request already replaced it).
    public func refused(_ authorization: String, for target: UpstreamTarget) async {
        guard case .ecr = target.login else { return }
        await tokens.forget(registry: target.tokenKey, scope: Self.loginScope, ifStill: authorization)
    }
}
