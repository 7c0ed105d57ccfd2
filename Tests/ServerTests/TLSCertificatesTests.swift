import Foundation
import NIOSSL
import Testing
import TestSupport
@testable import Server

/// Certificates made by the testkit's CA (`python -m portcullis_testkit.tlsca DIR`).
struct TestCertificates {
    let dir: String

    static let python = TestPython.find(importing: "portcullis_testkit.tlsca")

    init() throws {
        dir = NSTemporaryDirectory() + "tls-" + UUID().uuidString
        let made = try TestPython.run(Self.python!, ["-m", "portcullis_testkit.tlsca", dir])
        guard made.status == 0 else { throw CertificateError(String(decoding: made.stderr, as: UTF8.self)) }
    }

    func path(_ name: String) -> String { dir + "/" + name }
    func text(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }
    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

@Suite(.enabled(if: TestCertificates.python != nil, "the testkit is not installed (pip install -e ./testkit, or set PORTCULLIS_PYTHON)"))
struct TLSCertificatesTests {
    @Test func aMatchingValidPairIsAccepted() throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        let serving = try ServingCertificate(certificatePEM: try certs.text("server.crt"), keyPEM: try certs.text("server.key"))
        #expect(serving.chain.count == 1)
        #expect(serving.notValidAfter > Date())
    }

    @Test func aKeyOfAnotherCertificateIsRefused() throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        #expect(throws: CertificateError("the private key does not belong to the certificate")) {
            _ = try ServingCertificate(certificatePEM: try certs.text("server.crt"), keyPEM: try certs.text("other.key"))
        }
    }

    @Test func anExpiredCertificateIsRefused() throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        let error = #expect(throws: CertificateError.self) {
            _ = try ServingCertificate(certificatePEM: try certs.text("expired.crt"), keyPEM: try certs.text("expired.key"))
        }
        #expect(error?.description.hasPrefix("the certificate expired at") == true)
    }

    @Test func garbageIsRefusedWithTheReason() throws {
        #expect(throws: CertificateError("the certificate is not PEM")) {
            _ = try ServingCertificate(certificatePEM: "not a certificate", keyPEM: "")
        }
    }

    @Test func theServerNamePicksTheCertificateAndAReloadReplacesTheDefault() throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        let store = try TLSCertificates(certificateFile: certs.path("server.crt"), keyFile: certs.path("server.key"))
        let fallback = store.certificate(forServerName: nil).chain
        let other = try TestCertificates()
        defer { other.remove() }
        let domain = try ServingCertificate(certificatePEM: try other.text("server.crt"), keyPEM: try other.text("server.key"))
        store.setDomainCertificates(["registry.acme.example": domain])
        #expect(domain.chain != fallback)
        #expect(store.certificate(forServerName: "Registry.ACME.example").chain == domain.chain)
        #expect(store.certificate(forServerName: "elsewhere.example").chain == fallback)

        // A broken file on reload keeps the certificate in use.
        try "garbage".write(toFile: certs.path("server.crt"), atomically: true, encoding: .utf8)
        #expect(throws: CertificateError.self) { try store.reload() }
        #expect(store.certificate(forServerName: nil).chain == fallback)
        // A renewed certificate is served from the next handshake.
        let renewed = try TestCertificates()
        defer { renewed.remove() }
        try FileManager.default.removeItem(atPath: certs.path("server.crt"))
        try FileManager.default.removeItem(atPath: certs.path("server.key"))
        try FileManager.default.copyItem(atPath: renewed.path("server.crt"), toPath: certs.path("server.crt"))
        try FileManager.default.copyItem(atPath: renewed.path("server.key"), toPath: certs.path("server.key"))
        try store.reload()
        #expect(store.certificate(forServerName: nil).chain != fallback)
    }
}
