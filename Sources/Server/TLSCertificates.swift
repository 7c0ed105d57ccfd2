import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A certificate chain with its private key, checked to belong together and to be valid now.
public struct ServingCertificate: Sendable {
    public let chain: [NIOSSLCertificate]
    public let key: NIOSSLPrivateKey
    public let notValidAfter: Date

    /// Loads PEM text; refuses a key that does not match the certificate, and an expired or
    /// not-yet-valid certificate, with the reason.
    public init(certificatePEM: String, keyPEM: String, now: Date = Date()) throws(CertificateError) {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)) } catch {
            throw CertificateError("the certificate is not PEM")
        }
        do { key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem) } catch {
            throw CertificateError("the private key is not an unencrypted PEM key")
        }
        guard let leaf = chain.first else { throw CertificateError("the certificate file holds no certificate") }
        let notAfter = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        let notBefore = Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))
        guard notAfter > now else { throw CertificateError("the certificate expired at \(notAfter)") }
        guard notBefore <= now else { throw CertificateError("the certificate is not valid before \(notBefore)") }
        // A context only builds when the key signs for the certificate's public key.
        var probe = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        probe.minimumTLSVersion = .tlsv12
        do { _ = try NIOSSLContext(configuration: probe) } catch {
            throw CertificateError("the private key does not belong to the certificate")
        }
        self.chain = chain
        self.key = key
        self.notValidAfter = notAfter
    }

    /// When the leaf of a PEM chain runs out, or nil when it cannot be read.
    public static func notValidAfter(certificatePEM: String) -> Date? {
        guard let leaf = (try? NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)))?.first else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
    }

    /// The DNS names the leaf certificate is for.
    public var dnsNames: [String] {
        guard let leaf = chain.first else { return [] }
        return leaf._subjectAlternativeNames().compactMap { name in
            guard name.nameType == .dnsName else { return nil }
            return name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self).lowercased() }
        }
    }

    /// Whether a client asking for `host` accepts this certificate (an exact name, or a
    /// wildcard for one leftmost label).
    public func covers(_ host: String) -> Bool {
        let host = host.lowercased()
        return dnsNames.contains { name in
            if name == host { return true }
            guard name.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
            return host[dot...] == name.dropFirst(1)
        }
    }

    public init(certificateFile: String, keyFile: String) throws(CertificateError) {
        guard let cert = try? String(contentsOfFile: certificateFile, encoding: .utf8) else {
            throw CertificateError("cannot read \(certificateFile)")
        }
        guard let key = try? String(contentsOfFile: keyFile, encoding: .utf8) else { throw CertificateError("cannot read \(keyFile)") }
        try self.init(certificatePEM: cert, keyPEM: key)
    }
}

public struct CertificateError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The certificates this server presents: the default one from `--tls-cert/--tls-key`, and one
/// per custom domain. Chosen per handshake by the name the client asked for (SNI), so a reload
/// or a new domain applies to the next connection without dropping open ones.
public final class TLSCertificates: Sendable {
    private struct State {
        var fallback: ServingCertificate
        var byHost: [String: ServingCertificate] = [:]
    }

    private let state: Mutex<State>
    let certificateFile: String
    let keyFile: String

    public init(certificateFile: String, keyFile: String) throws(CertificateError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        state = Mutex(State(fallback: try ServingCertificate(certificateFile: certificateFile, keyFile: keyFile)))
    }

    /// Reads the default certificate again; on any problem the one in use stays.
    public func reload() throws(CertificateError) {
        let fresh = try ServingCertificate(certificateFile: certificateFile, keyFile: keyFile)
        state.withLock { $0.fallback = fresh }
    }

    public func setDomainCertificates(_ certificates: [String: ServingCertificate]) {
        state.withLock { $0.byHost = certificates }
    }

    func certificate(forServerName name: String?) -> ServingCertificate {
        state.withLock { state in
            name.flatMap { state.byHost[$0.lowercased()] } ?? state.fallback
        }
    }

    /// The server's TLS configuration: HTTP/1.1 over TLS 1.2+, the certificate picked per handshake.
    public func serverConfiguration() -> TLSConfiguration {
        let initial = certificate(forServerName: nil)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: initial.chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(initial.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] values, promise in
            let chosen = certificate(forServerName: values.serverHostname)
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = chosen.chain.map { .certificate($0) }
            override.privateKey = .privateKey(chosen.key)
            promise.succeed(override)
        }
        return configuration
    }
}

/// SIGHUP reloads the default certificate (after a renewal), keeping the old one when the new
/// files are unusable. Without TLS there is nothing to reload, but the signal is still taken:
/// its default action ends the process, and logrotate hooks and `systemctl reload` send it by habit.
struct HangupHandler: Service {
    let certificates: TLSCertificates?
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            guard let certificates else {
                logger.notice("SIGHUP: nothing to reload (no --tls-cert); the server keeps running")
                continue
            }
            do {
                try certificates.reload()
                logger.notice("TLS certificate reloaded", metadata: ["file": "\(certificates.certificateFile)"])
            } catch {
                logger.error("TLS certificate not reloaded; the previous one stays in use", metadata: ["reason": "\(error.description)"])
            }
        }
    }
}
