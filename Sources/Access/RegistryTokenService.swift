import Crypto
import Foundation
import JWTKit
import OCI

/// One access grant inside a registry token, as Docker's token spec shapes it.
public struct TokenAccess: Codable, Sendable, Equatable {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String = "repository", name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }
}

/// The claims of a registry token Portcullis issues.
public struct RegistryTokenClaims: JWTPayload, Equatable {
    public var iss: IssuerClaim
    /// The customer ID, or `vendor` for vendor tokens.
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim
    public var iat: IssuedAtClaim
    public var jti: IDClaim
    public var access: [TokenAccess]

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf.verifyNotBefore()
    }

    public func allows(_ action: String, on repository: String) -> Bool {
        access.contains { $0.type == "repository" && $0.name == repository && $0.actions.contains(action) }
    }
}

/// Issues and verifies short-lived ES256 registry tokens. The key ID is the key's
/// RFC 7638 thumbprint, so any replica holding the same key names it the same way.
public final class RegistryTokenService: Sendable {
    public static let issuer = "portcullis"
    let keys: JWTKeyCollection
    public let keyID: String
    public let lifetime: TimeInterval

    public init(privateKeyPEM: String, lifetime: TimeInterval) async throws {
        let cryptoKey = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        keyID = Self.thumbprint(of: cryptoKey.publicKey)
        keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(pem: privateKeyPEM), kid: JWKIdentifier(string: keyID))
        self.lifetime = lifetime
    }

    public static func generatePrivateKeyPEM() -> String {
        P256.Signing.PrivateKey().pemRepresentation
    }

    /// RFC 7638: SHA-256 over the canonical JWK members in lexicographic order.
    public static func thumbprint(of key: P256.Signing.PublicKey) -> String {
        let raw = Array(key.rawRepresentation)
        let x = Base64.urlEncode(raw[0..<32])
        let y = Base64.urlEncode(raw[32..<64])
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        return Base64.urlEncode(SHA256.hash(data: Array(canonical.utf8)))
    }

    public struct Issued: Sendable {
        public var token: String
        public var expiresIn: Int
        public var issuedAt: Date
    }

    public func issue(subject: String, audience: String, access: [TokenAccess], now: Date = Date()) async throws -> Issued {
        let claims = RegistryTokenClaims(
            iss: IssuerClaim(value: Self.issuer), sub: SubjectClaim(value: subject), aud: AudienceClaim(value: [audience]),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)), nbf: NotBeforeClaim(value: now.addingTimeInterval(-5)),
            iat: IssuedAtClaim(value: now), jti: IDClaim(value: UUID().uuidString.lowercased()), access: access)
        let token = try await keys.sign(claims, kid: JWKIdentifier(string: keyID))
        return Issued(token: token, expiresIn: Int(lifetime), issuedAt: now)
    }

    /// Verifies signature (ES256 with our key only), expiry, issuer and audience.
    public func verify(_ token: String, audience: String) async throws -> RegistryTokenClaims {
        let claims = try await keys.verify(token, as: RegistryTokenClaims.self)
        guard claims.iss.value == Self.issuer else { throw TokenError.wrongIssuer }
        guard claims.aud.value.contains(audience) else { throw TokenError.wrongAudience }
        return claims
    }
}

public enum TokenError: Error {
    case wrongIssuer, wrongAudience
}
