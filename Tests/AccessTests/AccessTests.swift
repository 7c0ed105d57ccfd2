import Crypto
import Foundation
import JWTKit
import Licensing
import Logging
import OCI
import Storage
import Testing
@testable import Access

@Suite struct RegistryTokenServiceTests {
    func service(lifetime: TimeInterval = 300) async throws -> RegistryTokenService {
        try await RegistryTokenService(privateKeyPEM: RegistryTokenService.generatePrivateKeyPEM(), lifetime: lifetime)
    }

    @Test func issuesAndVerifies() async throws {
        let tokens = try await service()
        let issued = try await tokens.issue(subject: "cust-1", audience: "reg.example",
                                            access: [TokenAccess(name: "proxy/acme/up/app", actions: ["pull"])])
        let claims = try await tokens.verify(issued.token, audience: "reg.example")
        #expect(claims.sub.value == "cust-1")
        #expect(claims.allows("pull", on: "proxy/acme/up/app"))
        #expect(!claims.allows("push", on: "proxy/acme/up/app"))
        #expect(!claims.allows("pull", on: "proxy/other/up/app"))
        #expect(issued.expiresIn == 300)
    }

    @Test func keyIDIsTheRFC7638Thumbprint() async throws {
        let pem = RegistryTokenService.generatePrivateKeyPEM()
        let tokens = try await RegistryTokenService(privateKeyPEM: pem, lifetime: 60)
        let key = try P256.Signing.PrivateKey(pemRepresentation: pem).publicKey
        let raw = Array(key.rawRepresentation)
        let jwk = #"{"crv":"P-256","kty":"EC","x":"\#(Base64.urlEncode(raw[0..<32]))","y":"\#(Base64.urlEncode(raw[32..<64]))"}"#
        #expect(tokens.keyID == Base64.urlEncode(SHA256.hash(data: Array(jwk.utf8))))
        #expect(tokens.keyID.count == 43)
        let issued = try await tokens.issue(subject: "s", audience: "a", access: [])
        let header = try #require(issued.token.split(separator: ".").first)
        let headerJSON = try #require(Base64.decode(String(header).paddedBase64))
        #expect(String(decoding: headerJSON, as: UTF8.self).contains(#""kid":"\#(tokens.keyID)""#))
        #expect(String(decoding: headerJSON, as: UTF8.self).contains(#""alg":"ES256""#))
    }

    @Test func refusesWrongAudienceExpiredForeignAndForged() async throws {
        let tokens = try await service()
        let good = try await tokens.issue(subject: "s", audience: "a", access: []).token
        await #expect(throws: (any Error).self) { try await tokens.verify(good, audience: "b") }

        let expired = try await tokens.issue(subject: "s", audience: "a", access: [], now: Date().addingTimeInterval(-3600)).token
        await #expect(throws: (any Error).self) { try await tokens.verify(expired, audience: "a") }

        let other = try await service()
        let foreign = try await other.issue(subject: "s", audience: "a", access: []).token
        await #expect(throws: (any Error).self) { try await tokens.verify(foreign, audience: "a") }

        // `alg: none` with the same claims.
        let parts = good.split(separator: ".")
        let noneHeader = Base64.urlEncode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        await #expect(throws: (any Error).self) { try await tokens.verify("\(noneHeader).\(parts[1]).", audience: "a") }

        // Claims swapped under a valid signature.
        let forgedClaims = Base64.urlEncode(Array(#"{"sub":"vendor","aud":["a"],"iss":"portcullis","exp":9999999999,"nbf":0,"iat":0,"jti":"x","access":[]}"#.utf8))
        await #expect(throws: (any Error).self) { try await tokens.verify("\(parts[0]).\(forgedClaims).\(parts[2])", audience: "a") }

        // HS256 keyed with the public key, the classic confusion attack.
        let hmac = JWTKeyCollection()
        await hmac.add(hmac: HMACKey(from: Array(tokens.keyID.utf8)), digestAlgorithm: .sha256, kid: JWKIdentifier(string: tokens.keyID))
        let claims = try await tokens.verify(good, audience: "a")
        let confused = try await hmac.sign(claims, kid: JWKIdentifier(string: tokens.keyID))
        await #expect(throws: (any Error).self) { try await tokens.verify(confused, audience: "a") }
    }
}

extension String {
    var paddedBase64: String {
        var s = replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return s
    }
}

@Suite struct LicenseGateTests {
    struct Fixture {
        let store: SQLMetadataStore
        let gate: LicenseGate
        let tokens: RegistryTokenService
        let app: AppRecord
        let dir: String
    }

    func fixture() async throws -> Fixture {
        let dir = NSTemporaryDirectory() + "gate-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: Logger(label: "t"))
        let tokens = try await RegistryTokenService(privateKeyPEM: RegistryTokenService.generatePrivateKeyPEM(), lifetime: 300)
        let app = AppRecord(slug: "acme", name: "Acme")
        try await store.createApp(app)
        return Fixture(store: store, gate: LicenseGate(customers: store, apps: store, vendorTokens: store, tokens: tokens, adminToken: "admin-secret-token"),
                       tokens: tokens, app: app, dir: dir)
    }

    func addCustomer(_ f: Fixture, license: String, expires: Date? = nil, archived: Bool = false) async throws -> CustomerRecord {
        let c = CustomerRecord(appID: f.app.id, name: "C", email: nil, channel: "Stable", type: .paid, expiresAt: expires, archived: archived,
                               licenseHash: SecretBox.lookupHash(license), sealedLicense: "x")
        try await f.store.createCustomer(c)
        return c
    }

    func basic(_ password: String) -> String { BasicCredentials(username: "anyone", password: password).headerValue }

    @Test func basicLicenseAndAdminToken() async throws {
        let f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let c = try await addCustomer(f, license: "license-aaaaaaaaaaaaaaaa")
        let caller = try await f.gate.authenticate(authorization: basic("license-aaaaaaaaaaaaaaaa"), service: "s")
        #expect(caller.principal.customerID == c.id)
        #expect(caller.tokenAccess == nil)
        #expect(try await f.gate.authenticate(authorization: basic("admin-secret-token"), service: "s").principal == .vendor(canPush: true))
        try await f.store.close()
    }

    @Test func refusesUnknownAndMissingAndTheRulesRefuseExpiredAndArchived() async throws {
        let f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        _ = try await addCustomer(f, license: "expired-aaaaaaaaaaaaaaaa", expires: Date().addingTimeInterval(-10))
        _ = try await addCustomer(f, license: "archived-aaaaaaaaaaaaaaa", archived: true)
        for header in [nil, "", basic("unknown-aaaaaaaaaaaaaaaa"), "Bearer not-a-jwt", "Digest x", basic("")] {
            await #expect(throws: AccessRefusal.self, "\(header ?? "nil")") {
                try await f.gate.authenticate(authorization: header, service: "s")
            }
        }
        // Vendors try their portal password: the refusal says what the registry takes.
        for password in ["Portal Passw0rd!", "Portal-Passw0rd-123"] {
            let portal = await #expect(throws: AccessRefusal.self) {
                try await f.gate.authenticate(authorization: basic(password), service: "s")
            }
            #expect(portal.map { "\($0)" }?.contains("not a portal password") == true, "\(String(describing: portal))")
        }
        // Known licenses are authenticated whatever their standing; the rules refuse them, so a
        // refusal can say whose license it was.
        for (license, why) in [("expired-aaaaaaaaaaaaaaaa", "license has expired"), ("archived-aaaaaaaaaaaaaaa", "license is no longer active")] {
            let caller = try await f.gate.authenticate(authorization: basic(license), service: "s")
            #expect(caller.principal.customerID != nil)
            #expect(AccessRules.login(caller.principal, now: Date()) == .unauthorized(why))
        }
        try await f.store.close()
    }

    @Test func bearerTokensFollowTheLicense() async throws {
        let f = try await fixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        var c = try await addCustomer(f, license: "license-bbbbbbbbbbbbbbbb")
        let access = [TokenAccess(name: "proxy/acme/up/app", actions: ["pull"])]
        let token = try await f.tokens.issue(subject: c.id, audience: "s", access: access).token
        let caller = try await f.gate.authenticate(authorization: "Bearer " + token, service: "s")
        #expect(caller.principal.customerID == c.id && caller.tokenAccess == access)
        await #expect(throws: AccessRefusal.self) { try await f.gate.authenticate(authorization: "Bearer " + token, service: "other") }

        // Archiving revokes at once, even though the token itself is still valid.
        c.archived = true
        try await f.store.updateCustomer(c)
        await f.gate.invalidate(customerID: c.id)
        for header in ["Bearer " + token, basic("license-bbbbbbbbbbbbbbbb")] {
            let after = try await f.gate.authenticate(authorization: header, service: "s")
            #expect(AccessRules.login(after.principal, now: Date()) == .unauthorized("license is no longer active"))
        }
        try await f.store.close()
    }
}

@Suite struct LoginThrottleTests {
    @Test func throttlesPerKeyWithinTheWindow() async {
        let throttle = LoginThrottle(limit: 3, window: 60)
        let t0 = Date()
        for i in 0..<3 { #expect(await throttle.recordFailure(keys: ["ip:1", "lic:a"], now: t0.addingTimeInterval(Double(i))) == nil) }
        let wait = await throttle.recordFailure(keys: ["ip:1", "lic:b"], now: t0.addingTimeInterval(3))
        #expect(wait != nil && wait! > 0 && wait! <= 60)
        #expect(await throttle.recordFailure(keys: ["ip:2", "lic:c"], now: t0.addingTimeInterval(3)) == nil, "other keys are unaffected")
        #expect(await throttle.recordFailure(keys: ["ip:1"], now: t0.addingTimeInterval(120)) == nil, "the window slides")
    }
}
