import Crypto
import CryptoExtras
import Foundation
import InClusterSDK
import Licensing
import PortcullisAPI
import Testing

/// A license signed the way Portcullis signs it, with a key made for the test.
struct SignedFixture {
    let key: _RSA.Signing.PrivateKey
    let app = "acme"
    let customerID = "cus_1"

    init() throws { key = try _RSA.Signing.PrivateKey(keySize: .bits2048) }

    var publicKeyPEM: String { key.publicKey.pemRepresentation }

    func sign(_ bytes: [UInt8]) throws -> String {
        try key.signature(for: SHA256.hash(data: bytes), padding: .PSS).rawRepresentation.base64EncodedString()
    }

    func document(customerID: String? = nil, fields: [String: String]) throws -> String {
        let spec = [("app", app), ("channel", "Stable"), ("customerID", customerID ?? self.customerID),
                    ("customerName", "Big Bank"), ("licenseType", "paid")]
        let signature = try sign(LicenseDocument.signedBytes(spec: spec, fields: fields.map { ($0.key, $0.value) }))
        var lines = ["apiVersion: portcullis.dev/v1", "kind: License", "spec:"]
        lines += spec.map { "  \($0.0): \"\($0.1)\"" }
        lines.append("  fields:")
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            lines += ["    \(name):", "      value: \"\(value)\""]
        }
        lines += ["signature:", "  v1: \"\(signature)\""]
        return lines.joined(separator: "\n") + "\n"
    }

    func field(_ name: String, _ value: JSONScalar, signedAs text: String) throws -> LicenseFieldValueBody {
        let signature = try sign(SignedLicenseField.signedBytes(app: app, customerID: customerID, name: name, value: text))
        return LicenseFieldValueBody(name: name, title: name, description: "", value: value, valueType: "Integer",
                                     signature: .init(v1: signature), isHidden: nil)
    }

    func configuration(document: String, fields: [String: LicenseFieldValueBody]) throws -> SDKConfiguration {
        var configuration = try SDKConfiguration.parse("""
            licenseID: lic_1
            license: "x"
            publicKey: "y"
            appName: Acme
            appSlug: acme
            channelID: ch_1
            channelName: Stable
            channelSequence: 2
            releaseSequence: 5
            versionLabel: 1.2.0
            reportInterval: 15m
            portcullisEndpoint: https://registry.example
            """)
        configuration.license = document
        configuration.publicKey = publicKeyPEM
        configuration.licenseFields = fields
        return configuration
    }
}

@Suite struct LicenseVerifierTests {
    @Test func acceptsTheAppsSignatureAndReadsTheDocument() throws {
        let fixture = try SignedFixture()
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let license = try verifier.document(fixture.document(fields: ["seats": "25", "expires_at": "2030-01-01T00:00:00Z"]))
        #expect(license.customerID == "cus_1")
        #expect(license.appSlug == "acme")
        #expect(license.fields["seats"] == "25")
        #expect(license.expiresAt == ISO8601DateFormatter().date(from: "2030-01-01T00:00:00Z"))
    }

    @Test func refusesAnEditedDocument() throws {
        let fixture = try SignedFixture()
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let edited = try fixture.document(fields: ["seats": "25"]).replacingOccurrences(of: "\"25\"", with: "\"2500\"")
        #expect(throws: LicenseVerifier.Refused.self) { try verifier.document(edited) }
    }

    @Test func refusesAnotherKeysSignature() throws {
        let fixture = try SignedFixture(), other = try SignedFixture()
        let verifier = try LicenseVerifier(publicKeyPEM: other.publicKeyPEM)
        #expect(throws: LicenseVerifier.Refused.self) { try verifier.document(fixture.document(fields: [:])) }
    }

    @Test func refusesWhatIsNotAKeyOrADocument() throws {
        #expect(throws: LicenseVerifier.Refused.self) { try LicenseVerifier(publicKeyPEM: "not a key") }
        let verifier = try LicenseVerifier(publicKeyPEM: SignedFixture().publicKeyPEM)
        #expect(throws: LicenseVerifier.Refused.self) { try verifier.document("- a\n- list\n") }
        #expect(throws: LicenseVerifier.Refused.self) { try verifier.document("spec: {app: acme}\n") }
    }

    @Test func checksAFieldAgainstItsAppAndCustomer() throws {
        let fixture = try SignedFixture()
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let seats = try fixture.field("seats", .integer(25), signedAs: "25")
        #expect(verifier.isValid(seats, app: "acme", customerID: "cus_1"))
        #expect(!verifier.isValid(seats, app: "acme", customerID: "cus_2"))
        var raised = seats
        raised.value = .integer(26)
        #expect(!verifier.isValid(raised, app: "acme", customerID: "cus_1"))
    }
}

@Suite struct LicenseStatementTests {
    let now = ISO8601DateFormatter().date(from: "2027-01-01T00:00:00Z")!

    func body(_ fixture: SignedFixture, document: String, status: String = "active", expiresAt: Date? = nil,
              fields: [String: LicenseFieldValueBody] = [:]) -> SDKLicenseBody {
        SDKLicenseBody(document: document, status: status, expiresAt: expiresAt, licenseType: "paid", customerID: fixture.customerID,
                       customerName: "Big Bank", customerEmail: "ops@bank.example", appSlug: "acme", appName: "Acme",
                       channelID: "ch_1", channelName: "Stable", fields: fields)
    }

    @Test func answersFromTheInjectedDocumentUntilPortcullisAnswers() throws {
        let fixture = try SignedFixture()
        let document = try fixture.document(fields: ["seats": "25"])
        let seats = try fixture.field("seats", .integer(25), signedAs: "25")
        let configuration = try fixture.configuration(document: document, fields: ["seats": seats])
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let statement = LicenseStatement.compose(configuration, injected: try verifier.document(document), verifier: verifier,
                                                 latest: nil, now: now)
        #expect(statement.info.source == .injected)
        #expect(statement.info.status == "active")
        #expect(statement.info.customerName == "Big Bank")
        #expect(statement.fields["seats"]?.value == .integer(25))
        #expect(statement.tampered.isEmpty)
    }

    @Test func aFieldEditedInTheValuesIsNeverAnswered() throws {
        let fixture = try SignedFixture()
        let document = try fixture.document(fields: ["seats": "25"])
        var seats = try fixture.field("seats", .integer(25), signedAs: "25")
        seats.value = .integer(1000)
        let configuration = try fixture.configuration(document: document, fields: ["seats": seats])
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let statement = LicenseStatement.compose(configuration, injected: try verifier.document(document), verifier: verifier,
                                                 latest: nil, now: now)
        #expect(statement.fields["seats"] == nil)
        #expect(statement.tampered == ["seats"])
    }

    @Test func pastItsExpiryTheLicenseIsExpiredWhateverTheCopySays() throws {
        let fixture = try SignedFixture()
        let document = try fixture.document(fields: ["expires_at": "2026-06-01T00:00:00Z"])
        let configuration = try fixture.configuration(document: document, fields: [:])
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let injected = try verifier.document(document)
        let fromInjected = LicenseStatement.compose(configuration, injected: injected, verifier: verifier, latest: nil, now: now)
        #expect(fromInjected.info.status == "expired")
        #expect(fromInjected.info.isExpired)
        let cached = body(fixture, document: document, status: "active", expiresAt: injected.expiresAt)
        let fromCache = LicenseStatement.compose(configuration, injected: injected, verifier: verifier, latest: (cached, .cache), now: now)
        #expect(fromCache.info.status == "expired")
        #expect(fromCache.info.source == .cache)
    }

    /// The state directory's copy is the unsigned answer around a signed document: whoever can
    /// edit it must not be able to make an expired license active, or rename its customer.
    @Test func anEditedCopyCannotReviveAnExpiredLicense() throws {
        let fixture = try SignedFixture()
        let document = try fixture.document(fields: ["expires_at": "2026-06-01T00:00:00Z"])
        let configuration = try fixture.configuration(document: document, fields: [:])
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        var edited = body(fixture, document: document, status: "active", expiresAt: ISO8601DateFormatter().date(from: "2099-01-01T00:00:00Z"))
        edited.customerName = "Evil"
        edited.channelName = "Beta"
        edited.licenseType = "community"
        let statement = LicenseStatement.compose(configuration, injected: try verifier.document(document), verifier: verifier,
                                                 latest: (edited, .cache), now: now)
        #expect(statement.info.status == "expired" && statement.info.isExpired)
        #expect(statement.info.expiresAt == ISO8601DateFormatter().date(from: "2026-06-01T00:00:00Z"))
        #expect(statement.info.customerName == "Big Bank")
        #expect(statement.info.channelName == "Stable")
        #expect(statement.info.licenseType == "paid")
        #expect(statement.info.source == .cache)
    }

    @Test func portcullisArchivingTheLicenseIsAnswered() throws {
        let fixture = try SignedFixture()
        let document = try fixture.document(fields: [:])
        let configuration = try fixture.configuration(document: document, fields: [:])
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let latest = body(fixture, document: document, status: "archived")
        let statement = LicenseStatement.compose(configuration, injected: try verifier.document(document), verifier: verifier,
                                                 latest: (latest, .portcullis), now: now)
        #expect(statement.info.status == "archived")
        #expect(!statement.info.isExpired)
        #expect(statement.info.customerEmail == "ops@bank.example")
    }

    @Test func anAnswerForAnotherLicenseOrUnsignedIsIgnored() throws {
        let fixture = try SignedFixture()
        let document = try fixture.document(fields: [:])
        let configuration = try fixture.configuration(document: document, fields: [:])
        let verifier = try LicenseVerifier(publicKeyPEM: fixture.publicKeyPEM)
        let injected = try verifier.document(document)
        let otherCustomer = body(fixture, document: try fixture.document(customerID: "cus_2", fields: [:]), status: "active")
        let forOther = LicenseStatement.compose(configuration, injected: injected, verifier: verifier,
                                                latest: (otherCustomer, .portcullis), now: now)
        #expect(forOther.info.source == .injected)
        let forged = body(fixture, document: try SignedFixture().document(fields: [:]), status: "active")
        let fromForger = LicenseStatement.compose(configuration, injected: injected, verifier: verifier, latest: (forged, .portcullis), now: now)
        #expect(fromForger.info.source == .injected)
    }
}

@Suite struct SDKConfigurationTests {
    @Test func readsWhatTheChartWrites() throws {
        let configuration = try SDKConfiguration.parse("""
            licenseID: lic_1
            license: |
              spec: {}
            publicKey: PEM
            channelSequence: 3
            releaseSequence: "7"
            releaseImages: [HOST/proxy/acme/dockerhub/nginx:1.27]
            isAirgap: true
            reportInterval: 30s
            licenseFields:
              seats: {name: seats, title: Seats, value: 25, valueType: Integer, signature: {v1: c2ln}}
            """)
        #expect(configuration.channelSequence == 3)
        #expect(configuration.releaseSequence == 7)
        #expect(configuration.isAirgap)
        #expect(configuration.reportInterval == TimeInterval(30))
        #expect(configuration.releaseImages == ["HOST/proxy/acme/dockerhub/nginx:1.27"])
        #expect(configuration.licenseFields["seats"]?.value == .integer(25))
        #expect(configuration.licenseFields["seats"]?.signature.v1 == "c2ln")
    }

    @Test func saysWhatIsMissing() {
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse("publicKey: PEM\n") }
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse("license: x\n") }
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse("license: x\npublicKey: y\nreportInterval: often\n") }
    }

    /// What would make every check-in fail is refused at start, where someone reads it.
    @Test func refusesAtStartWhatEveryReportWouldFailOn() {
        let base = "license: x\npublicKey: y\n"
        let online = base + "licenseID: lic_1\nportcullisEndpoint: https://r.example\n"
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse(base + "portcullisEndpoint: https://r.example\n") }
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse(base + "licenseID: lic_1\n") }
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse(online + "instanceID: \(String(repeating: "i", count: 129))\n") }
        #expect(throws: SDKConfiguration.Invalid.self) { try SDKConfiguration.parse(online + "instanceID: ../../x\n") }
        #expect((try? SDKConfiguration.parse(online + "instanceID: prod-eu-1\n"))?.instanceID == "prod-eu-1")
        #expect((try? SDKConfiguration.parse(base + "isAirgap: true\n")) != nil, "air-gapped: no license ID or endpoint needed")
    }

    @Test func durations() {
        #expect(SDKConfiguration.duration("90s") == TimeInterval(90))
        #expect(SDKConfiguration.duration("4h") == TimeInterval(14_400))
        #expect(SDKConfiguration.duration("0m") == nil)
        #expect(SDKConfiguration.duration("h") == nil)
    }
}
