import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerDomains(on api: RouterGroup<PortcullisContext>) {
        route(API.addDomain, on: api) { call in
            let body = call.body
            if body.certificate != nil || body.key != nil {
                try checkCertificate(body)
            }
            let record = try await control.addDomain(body.name, app: body.app, certificatePEM: body.certificate, keyPEM: body.key)
            await DomainCertificates(c: c).refresh()
            return domainBody(record)
        }
        route(API.domains, on: api) { _ in
            try await control.domainList().map(domainBody)
        }
        route(API.removeDomain, on: api) { call in
            try await control.removeDomain(try call.parameter("name"), force: call.query("force") == "true")
            await DomainCertificates(c: c).refresh()
            return Nothing()
        }
    }

    /// The TLS layer's checks: a pair that belongs together, valid now, for this name, on a
    /// server that serves TLS at all.
    private func checkCertificate(_ body: CreateDomainRequest) throws {
        guard let pem = body.certificate, let key = body.key else {
            throw AdminError.badRequest("a certificate needs its key, and a key its certificate")
        }
        guard c.certificates != nil else {
            throw AdminError.badRequest("this server does not serve TLS (--tls-cert); terminate TLS for the domain in front of it")
        }
        let serving: ServingCertificate
        do { serving = try ServingCertificate(certificatePEM: pem, keyPEM: key) } catch {
            throw AdminError.badRequest("certificate refused: \(error.description)")
        }
        guard serving.covers(body.name) else {
            throw AdminError.badRequest("certificate refused: it is for \(serving.dnsNames.joined(separator: ", ")), not \(body.name.lowercased())")
        }
    }

    private func domainBody(_ record: DomainRecord) -> DomainBody {
        let expiry = record.certificatePEM.flatMap(ServingCertificate.notValidAfter(certificatePEM:))
        return DomainBody(name: record.name, app: record.appSlug, certificateExpiresAt: expiry, createdAt: record.createdAt)
    }
}
