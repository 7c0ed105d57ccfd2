import Foundation
import OCI
import Testing
@testable import Licensing

@Suite struct LicenseTests {
    func license(expires: Date? = nil, archived: Bool = false, app: String = "acme") -> License {
        License(customerID: "c1", appID: "a1", appSlug: app, customerName: "C", customerEmail: nil, channel: "Stable",
                type: .paid, expiresAt: expires, archived: archived, helmInstall: true)
    }

    @Test func standing() {
        let now = Date()
        #expect(license().standing(at: now) == .active)
        #expect(license(expires: now.addingTimeInterval(60)).standing(at: now) == .active)
        #expect(license(expires: now.addingTimeInterval(-1)).standing(at: now) == .expired(at: now.addingTimeInterval(-1)))
        #expect(license(expires: now).standing(at: now).isActive == false)
        #expect(license(archived: true).standing(at: now) == .archived)
        #expect(license(expires: now.addingTimeInterval(-1), archived: true).standing(at: now) == .archived)
    }

    @Test func licenseIDsAreLongAndDistinct() {
        let ids = (0..<1000).map { _ in LicenseID.generate() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.count == 40 && LicenseID.isWellFormed($0) })
        #expect(!LicenseID.isWellFormed("short"))
        #expect(!LicenseID.isWellFormed(String(repeating: "a", count: 20) + " "))
    }

    @Test func pullSecretShape() throws {
        let json = PullSecret.dockerConfigJSON(host: "registry.example.com", licenseID: "abc123")
        let auth = Base64.encode(Array("LICENSE_ID:abc123".utf8))
        #expect(json == #"{"auths":{"registry.example.com":{"auth":"\#(auth)"}}}"#)
        let decoded = try #require(Base64.decode(PullSecret.dockerConfigJSONBase64(host: "registry.example.com", licenseID: "abc123")))
        #expect(String(decoding: decoded, as: UTF8.self) == json)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: [String: String]]]
        #expect(object?["auths"]?["registry.example.com"]?["auth"] == auth)
    }

    @Test func slugs() throws {
        try Slug.validate("acme-app", what: "app")
        for bad in ["", "Acme", "a_b", "-a", "a-", "proxy", "v2", String(repeating: "a", count: 64), "a.b"] {
            #expect(throws: SlugError.self, "\(bad)") { try Slug.validate(bad, what: "app") }
        }
        #expect(Slug.derive(from: "127.0.0.1:5000") == "127-0-0-1-5000")
        #expect(Slug.derive(from: "Quay.io") == "quay-io")
    }
}

@Suite struct MirrorHostsFileTests {
    @Test func aHostsFileMirrorsOneUpstreamWithTheLicenseInAHeader() {
        let file = MirrorHostsFile(upstreamHost: "quay.io", upstreamURL: "https://quay.io", mirrorURL: "https://registry.acme.example",
                                   licenseID: "lic-0123456789abcdef", caPath: "/etc/ssl/acme-ca.crt")
        #expect(file.path == "/etc/containerd/certs.d/quay.io/hosts.toml")
        let auth = BasicCredentials(username: "LICENSE_ID", password: "lic-0123456789abcdef").headerValue
        #expect(file.contents == """
            # quay.io: pulled through Portcullis with this customer's license.
            server = "https://quay.io"

            [host."https://registry.acme.example"]
              capabilities = ["pull", "resolve"]
              ca = "/etc/ssl/acme-ca.crt"
              [host."https://registry.acme.example".header]
                Authorization = "\(auth)"

            """)
    }
}

@Suite struct LicenseFieldTests {
    @Test func valuesAreCheckedAndWrittenCanonically() {
        #expect(LicenseFieldType.integer.canonical(" 25 ") == "25")
        #expect(LicenseFieldType.integer.canonical("lots") == nil)
        #expect(LicenseFieldType.boolean.canonical("Yes") == "true" && LicenseFieldType.boolean.canonical("0") == "false")
        #expect(LicenseFieldType.boolean.canonical("maybe") == nil)
        #expect(LicenseFieldType.text.canonical(" keeps spaces ") == " keeps spaces ")
        #expect(LicenseFieldType.allCases.map(\.valueType) == ["Integer", "String", "Boolean", "Text"])
    }

    @Test func namesAreSnakeCaseAndExpiresAtIsBuiltIn() {
        for good in ["seats", "max_nodes", "tier2"] { #expect(LicenseFieldDefinition.isValidName(good), "\(good)") }
        for bad in ["", "Seats", "2fa", "max-nodes", "expires_at", String(repeating: "a", count: 65)] {
            #expect(!LicenseFieldDefinition.isValidName(bad), "\(bad)")
        }
    }

    @Test func theSignedBytesAreFiveLines() {
        let bytes = SignedLicenseField.signedBytes(app: "acme", customerID: "c-1", name: "seats", value: "25")
        #expect(String(decoding: bytes, as: UTF8.self) == "portcullis-license-field-v1\nacme\nc-1\nseats\n25")
    }
}
