import Foundation
import Logging
import ServiceLifecycle

/// Keeps the certificates served per custom domain in step with the database: at once after a
/// change on this replica, and every few seconds for changes made on another.
struct DomainCertificates: Sendable {
    let c: Components

    func refresh() async {
        guard let certificates = c.certificates else { return }
        do {
            var byHost: [String: ServingCertificate] = [:]
            for domain in try await c.domains.all() {
                guard let pem = domain.certificatePEM, let key = try c.control.domainKey(domain) else { continue }
                do {
                    byHost[domain.name] = try ServingCertificate(certificatePEM: pem, keyPEM: key)
                } catch {
                    // Expired since it was added, most likely: the default certificate is served instead.
                    c.logger.warning("domain certificate not served", metadata: ["domain": "\(domain.name)", "reason": "\(error.description)"])
                }
            }
            certificates.setDomainCertificates(byHost)
        } catch {
            c.logger.warning("domain certificates not refreshed", metadata: ["error": "\(error)"])
        }
    }
}

/// Runs `DomainCertificates.refresh` at start and then periodically.
struct DomainCertificateRefresher: Service {
    let certificates: DomainCertificates
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await certificates.refresh()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
