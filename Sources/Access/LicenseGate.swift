import Foundation
import Licensing
import OCI
import Storage

/// Turns an `Authorization` header into a caller: license IDs (Basic), registry tokens
/// (Bearer) and the vendor's admin token. This is authentication only: what a caller may do,
/// including whether its license is still in good standing, is `AccessRules`'s to say.
/// License records are cached briefly in memory so the hot path does no database work; a
/// change made here invalidates at once, and other replicas see it within `cacheTTL`.
public actor LicenseGate {
    private let customers: any CustomerStore
    private let apps: any AppStore
    private let vendorTokens: any VendorTokenStore
    private let tokens: RegistryTokenService
    private let adminTokenHash: String
    private let cacheTTL: TimeInterval

    private struct CachedLicense {
        var license: License
        var loadedAt: Date
    }
    private var byHash: [String: CachedLicense] = [:]
    private var byCustomer: [String: CachedLicense] = [:]
    private var verifiedTokens: [String: RegistryTokenClaims] = [:]
    /// Vendor tokens by secret hash (Basic logins) and by `id:<token id>` (registry tokens), both cleared on change.
    private var vendorTokenCache: [String: (record: VendorTokenRecord?, loadedAt: Date)] = [:]

    /// Subject of registry tokens issued to the admin token.
    public static let adminSubject = "vendor:admin"
    /// The subject of anonymous tokens (customer subjects are UUIDs, vendors `vendor:…`).
    public static let anonymousSubject = "anonymous"

    public init(customers: any CustomerStore, apps: any AppStore, vendorTokens: any VendorTokenStore, tokens: RegistryTokenService,
                adminToken: String, cacheTTL: TimeInterval = 5) {
        self.customers = customers
        self.apps = apps
        self.vendorTokens = vendorTokens
        self.tokens = tokens
        self.adminTokenHash = SecretBox.lookupHash(adminToken)
        self.cacheTTL = cacheTTL
    }

    public func invalidateVendorTokens() {
        vendorTokenCache.removeAll()
    }

    public func invalidate(customerID: String) {
        byCustomer[customerID] = nil
        byHash = byHash.filter { $0.value.license.customerID != customerID }
    }

    /// Checks a username/password pair (the token endpoint's and Basic auth's input).
    public func authenticate(basic: BasicCredentials, now: Date = Date()) async throws -> Principal {
        let hash = SecretBox.lookupHash(basic.password)
        if constantTimeEquals(hash, adminTokenHash) { return .vendor(canPush: true) }
        if basic.password.hasPrefix(VendorToken.prefix) {
            guard let record = try await vendorToken(hash: hash, now: now) else { throw AccessRefusal.unauthorized("invalid token") }
            return .vendor(canPush: record.scope == .push)
        }
        // Vendors following the docs try their portal password here: the refusal says what is taken.
        guard LicenseID.isWellFormed(basic.password), let license = try await license(hash: hash, now: now) else {
            throw AccessRefusal.unauthorized("invalid license: the registry takes a customer's license ID, or a vendor token "
                                             + "(`portcullis token create`), not a portal password")
        }
        return .customer(license)
    }

    /// Checks a request's `Authorization` header for a registry endpoint.
    public func authenticate(authorization: String?, service: String, now: Date = Date()) async throws -> Caller {
        guard let authorization, !authorization.isEmpty else { throw AccessRefusal.unauthorized("authentication required") }
        if let basic = BasicCredentials.parse(authorization: authorization) {
            return Caller(principal: try await authenticate(basic: basic, now: now), tokenAccess: nil)
        }
        guard authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw AccessRefusal.unauthorized("unsupported authorization scheme")
        }
        let claims = try await verify(authorization.dropFirst(7).trimmingSpaces, service: service, now: now)
        let subject = claims.sub.value
        if subject == Self.adminSubject {
            return Caller(principal: .vendor(canPush: true), tokenAccess: claims.access)
        }
        if subject == Self.anonymousSubject {
            return Caller(principal: .anonymous, tokenAccess: claims.access)
        }
        if subject.hasPrefix("vendor:") {
            // A removed vendor token stops at once, not when its registry token expires.
            let id = String(subject.dropFirst("vendor:".count))
            guard let record = try await vendorToken(id: id, now: now) else {
                throw AccessRefusal.unauthorized("invalid token")
            }
            return Caller(principal: .vendor(canPush: record.scope == .push), tokenAccess: claims.access)
        }
        guard let license = try await license(customerID: subject, now: now) else {
            throw AccessRefusal.unauthorized("invalid license")
        }
        // The license is loaded (through the short cache) on every request, not just at issue,
        // so the rules see its standing now and revocation applies at once.
        return Caller(principal: .customer(license), tokenAccess: claims.access)
    }

    /// The customer a license ID belongs to, whatever its standing; for records of refusals.
    /// The customer a license ID is; nil when it is none. Throws when the store cannot be asked
    /// (a sign-in then says so, instead of calling a good license invalid).
    public func customerID(license: String) async throws -> String? {
        guard LicenseID.isWellFormed(license) else { return nil }
        return try await self.license(hash: SecretBox.lookupHash(license), now: Date())?.customerID
    }

    /// The subject a registry token for this principal carries.
    public func subject(for basic: BasicCredentials, principal: Principal) async throws -> String {
        switch principal {
        case .anonymous: return Self.anonymousSubject
        case .customer(let license): return license.customerID
        case .vendor:
            let hash = SecretBox.lookupHash(basic.password)
            if constantTimeEquals(hash, adminTokenHash) { return Self.adminSubject }
            guard let record = try await vendorToken(hash: hash, now: Date()) else { throw AccessRefusal.unauthorized("invalid token") }
            return "vendor:" + record.id
        }
    }

    private func vendorToken(id: String, now: Date) async throws -> VendorTokenRecord? {
        let key = "id:" + id
        if let hit = vendorTokenCache[key], now.timeIntervalSince(hit.loadedAt) < cacheTTL { return hit.record }
        let record = try await vendorTokens.vendorTokens().first { $0.id == id }
        if vendorTokenCache.count > 10_000 { vendorTokenCache.removeAll() }
        vendorTokenCache[key] = (record, now)
        return record
    }

    private func vendorToken(hash: String, now: Date) async throws -> VendorTokenRecord? {
        if let hit = vendorTokenCache[hash], now.timeIntervalSince(hit.loadedAt) < cacheTTL { return hit.record }
        let record = try await vendorTokens.vendorToken(hash: hash)
        if vendorTokenCache.count > 10_000 { vendorTokenCache.removeAll() }
        vendorTokenCache[hash] = (record, now)
        return record
    }

    private func verify(_ token: String, service: String, now: Date) async throws -> RegistryTokenClaims {
        if let claims = verifiedTokens[token], claims.exp.value > now, claims.aud.value.contains(service) {
            return claims
        }
        let claims: RegistryTokenClaims
        do {
            claims = try await tokens.verify(token, audience: service)
        } catch {
            throw AccessRefusal.unauthorized("invalid or expired token")
        }
        if verifiedTokens.count > 50_000 { verifiedTokens = verifiedTokens.filter { $0.value.exp.value > now } }
        if verifiedTokens.count > 50_000 { verifiedTokens.removeAll() }
        verifiedTokens[token] = claims
        return claims
    }

    private func license(hash: String, now: Date) async throws -> License? {
        if let hit = byHash[hash], now.timeIntervalSince(hit.loadedAt) < cacheTTL { return hit.license }
        guard let record = try await customers.customer(licenseHash: hash) else { return nil }
        return try await remember(record, now: now, hash: hash)
    }

    private func license(customerID: String, now: Date) async throws -> License? {
        if let hit = byCustomer[customerID], now.timeIntervalSince(hit.loadedAt) < cacheTTL { return hit.license }
        guard let record = try await customers.customer(id: customerID) else { return nil }
        return try await remember(record, now: now, hash: record.licenseHash)
    }

    private func remember(_ record: CustomerRecord, now: Date, hash: String) async throws -> License? {
        guard let app = try await apps.app(id: record.appID) else { return nil }
        let license = record.license(appSlug: app.slug)
        let entry = CachedLicense(license: license, loadedAt: now)
        if byHash.count > 100_000 { byHash.removeAll(); byCustomer.removeAll() }
        byHash[hash] = entry
        byCustomer[record.id] = entry
        return license
    }
}

/// Vendor API tokens carry a prefix so they are told apart from license IDs without a lookup.
public enum VendorToken {
    public static let prefix = "pcv_"

    public static func generate() -> String { prefix + randomHex(24) }
}

func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}
