import Foundation
import Storage

extension ControlPlane {
    /// Registers `name` as where the app's customers pull from. `certificatePEM`/`keyPEM` (already
    /// checked by the TLS layer) are served for that name; the key is stored sealed.
    public func addDomain(_ name: String, app slug: String, certificatePEM: String?, keyPEM: String?) async throws -> DomainRecord {
        let name = name.lowercased()
        try Self.validateHostName(name)
        let app = try await app(slug: slug)
        let record = DomainRecord(name: name, appID: app.id, appSlug: app.slug, certificatePEM: certificatePEM,
                                  sealedKey: try keyPEM.map { try secrets.seal($0) })
        try await normalized { try await store.createDomain(record) }
        await domains.invalidate()
        recipients?.forgetAll()
        logger.info("domain added", metadata: ["domain": "\(name)", "app": "\(app.slug)", "certificate": "\(certificatePEM != nil)"])
        return record
    }

    public func domainList() async throws -> [DomainRecord] {
        try await store.domains()
    }

    /// Removes a domain; one that a released chart still names needs `force`, since customers
    /// installing that chart would pull from a host that no longer answers for the app.
    public func removeDomain(_ name: String, force: Bool) async throws {
        let name = name.lowercased()
        guard let domain = try await store.domains().first(where: { $0.name == name }) else {
            throw ControlPlaneError.notFound("domain \(name) not found")
        }
        if !force {
            let charts = try await catalog.chartsMentioning(name, appID: domain.appID)
            if !charts.isEmpty {
                throw ControlPlaneError.conflict("domain \(name) is referenced by released charts (\(charts.joined(separator: ", "))); "
                                                 + "remove it with --force to go ahead")
            }
        }
        _ = try await store.deleteDomain(name: name)
        await domains.invalidate()
        recipients?.forgetAll()
        logger.info("domain removed", metadata: ["domain": "\(name)"])
    }

    /// The private key of a domain's certificate, for serving it.
    public func domainKey(_ domain: DomainRecord) throws -> String? {
        try domain.sealedKey.map { try secrets.open($0) }
    }

    static func validateHostName(_ name: String) throws {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid = name.count <= 253 && labels.count >= 2 && labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }
        } && !labels.allSatisfy { $0.allSatisfy(\.isNumber) }
        guard valid else {
            throw ControlPlaneError.invalid("invalid domain \(name.debugDescription): a host name such as registry.example.com (no port, no scheme)")
        }
    }
}
