import Crypto
import Foundation
import JWTKit
import OCI
import Synchronization

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
///
/// It signs with the newest key it knows and verifies with any of them. Replicas share their
/// keys through the database: a token signed with a key this replica has not loaded yet (a
/// rotation elsewhere) makes it reload the keys once and try again.
public final class RegistryTokenService: Sendable {
    public static let issuer = "portcullis"
    let keys: JWTKeyCollection
    private let known = Mutex<(signing: String, all: Set<String>)>(("", []))
    private let reload: @Sendable () async throws -> [String]
    private let lastReload = Mutex<Date>(.distantPast)
    public let lifetime: TimeInterval

    /// `privateKeysPEM` newest first; `reload` fetches the current list the same way.
    public init(privateKeysPEM: [String], lifetime: TimeInterval, reload: @escaping @Sendable () async throws -> [String] = { [] }) async throws {
        guard !privateKeysPEM.isEmpty else { throw TokenError.noSigningKey }
        keys = JWTKeyCollection()
        self.reload = reload
        self.lifetime = lifetime
        try await add(privateKeysPEM)
    }

    public convenience init(privateKeyPEM: String, lifetime: TimeInterval) async throws {
        try await self.init(privateKeysPEM: [privateKeyPEM], lifetime: lifetime)
    }

    /// The id of the key tokens are signed with now.
    public var keyID: String { known.withLock { $0.signing } }

    /// Adds keys (newest first); the first becomes the signing key.
    public func add(_ pems: [String]) async throws {
        var ids: [String] = []
        for pem in pems {
            let id = Self.thumbprint(of: try P256.Signing.PrivateKey(pemRepresentation: pem).publicKey)
            ids.append(id)
            if !known.withLock({ $0.all.contains(id) }) {
                await keys.add(ecdsa: try ES256PrivateKey(pem: pem), kid: JWKIdentifier(string: id))
            }
        }
        guard let newest = ids.first else { return }
        known.withLock { state in
            state.signing = newest
            state.all.formUnion(ids)
        }
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

    /// Verifies signature (ES256 with one of our keys only), expiry, issuer and audience.
    public func verify(_ token: String, audience: String) async throws -> RegistryTokenClaims {
        let claims: RegistryTokenClaims
        do {
            claims = try await keys.verify(token, as: RegistryTokenClaims.self)
        } catch {
            // Another replica may have rotated in a key this one has not seen: look, at most
            // once a second, so tokens with made-up key ids cannot keep the database busy.
            guard let kid = Self.keyID(of: token), !known.withLock({ $0.all.contains(kid) }) else { throw error }
            let now = Date()
            guard lastReload.withLock({ last in
                guard now.timeIntervalSince(last) >= 1 else { return false }
                last = now
                return true
            }) else { throw error }
            let current = try await reload()
            try await add(current)
            guard known.withLock({ $0.all.contains(kid) }) else { throw error }
            claims = try await keys.verify(token, as: RegistryTokenClaims.self)
        }
        guard claims.iss.value == Self.issuer else { throw TokenError.wrongIssuer }
        guard claims.aud.value.contains(audience) else { throw TokenError.wrongAudience }
        return claims
    }
}

public enum TokenError: Error {
    case wrongIssuer, wrongAudience, noSigningKey
}

extension RegistryTokenService {
    /// The `kid` a token's header names, without verifying anything.
    static func keyID(of token: String) -> String? {
        guard let header = token.split(separator: ".").first, let json = Base64.urlDecode(String(header)),
              let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        return object["kid"] as? String
    }
}
