import Access
import Bundles
import ControlPlane
import Foundation
import HTTPTypes
import Hosting
import Hummingbird
import OCI
import Storage

/// Air-gap bundles as downloads: customers fetch theirs with the license
/// (`GET /bundles/<app>/<sequence>`, Basic auth, password the license ID) and vendors through
/// the admin API. Either way the archive is built once, kept as a blob, and served like one:
/// streamed, with `Range` for resuming.
struct BundleRoutes {
    let c: Components

    func register(on router: Router<PortcullisContext>) {
        router.get("/bundles/:app/:sequence") { request, context in
            do {
                let principal = try await LoginThrottling(c: c).authenticate(request.headers[.authorization], request, context: context).principal
                switch AccessRules.bundle(principal, app: try context.parameters.require("app"), now: Date()) {
                case .allow: break
                case .unauthorized(let message): throw TokenRefusal(message: message)
                case .denied(let message), .unsupported(let message): throw AccessRefusal.denied(message)
                case .nameUnknown: throw HTTPError(.notFound, message: "no such app")
                }
                guard case .customer(let license) = principal else { throw AccessRefusal.denied("a bundle is downloaded with a license") }
                let view = try await c.control.customer(id: license.customerID)
                return try await respond(request, app: view.app, sequence: try context.parameters.require("sequence"), customer: view.customer)
            } catch {
                let answer = ClientFacingError(error)
                if answer.isInternal { c.logger.error("bundle request failed", metadata: ["error": "\(error)"]) }
                return answer.apiResponse
            }
        }
    }

    /// Builds (or finds) the bundle and streams it, honouring `Range`. `forVendor`: asked through
    /// the admin API, where a lapsed license is the customer's standing (403), not the caller's
    /// credentials (401).
    func respond(_ request: Request, app: AppRecord, sequence text: String, customer: CustomerRecord, forVendor: Bool = false) async throws
        -> Response {
        guard let sequence = Int(text) else { throw HTTPError(.badRequest, message: "the release sequence must be a number") }
        // One bundle however the platforms are ordered or repeated: the list is part of its identity.
        let platforms = Set(request.uri.queryParameters.getAll("platform").map { String($0) }).sorted()
        for platform in platforms where platform.split(separator: "/").count < 2 || platform.split(separator: "/").count > 3 {
            throw HTTPError(.badRequest, message: "platform \(platform.debugDescription) is not os/arch[/variant]")
        }
        let address = try await PublicAddress.of(request, configuration: c.configuration, domains: c.domains)
        // Another app's custom domain serves none of this app: as if there were no such bundle.
        if let domainApp = address.domainApp, domainApp != app.slug {
            throw HTTPError(.notFound, message: "no bundle of \(app.slug) on this host")
        }
        // This server's names: as this request reached it, as configured, its listen address
        // (behind a load balancer the request's Host may be none of the names charts use).
        var own: Set<String> = [address.host.lowercased(), "\(c.configuration.host):\(c.configuration.port)"]
        if let host = address.defaultHost { own.insert(host.lowercased()) }
        for domain in try await c.domains.names(ofApp: app.id) { own.insert(domain.lowercased()) }
        let built: BundleBuilder.Built
        do {
            built = try await c.bundles.bundle(BundleRequest(app: app, sequence: sequence, customer: customer, platforms: platforms,
                                                             address: address.requestAddress, publicHost: address.host, ownHosts: own))
        } catch let refusal as AccessRefusal {
            throw HTTPError(refusal.isUnauthorized && !forVendor ? .unauthorized : .forbidden, message: "bundle refused: \(refusal.message)")
        } catch let error as RegistryError {
            // An image the charts name could not be had (not upstream, or its registry failing): the
            // bundle cannot be made as asked, which is what 422 says; the message says which image.
            let status: HTTPResponse.Status = error.status >= 500 || error.status == 404 ? .unprocessableContent : .init(code: error.status)
            throw HTTPError(status, message: "bundle could not be built: \(error.message)")
        }
        // The same URL gives another archive once the license or release changes: a resumed
        // download must not splice two, so a Range is honoured only when If-Range (if sent) still
        // names this archive, and nothing may cache it as forever.
        let etag = "\"\(built.digest)\""
        var request = request
        if let ifRange = request.headers[.ifRange], ifRange != etag {
            var head = request.head
            head.headerFields[.range] = nil
            request = Request(head: head, body: request.body)
        }
        var response = try await BlobResponder(request: request, digest: built.digest, sendfile: c.sendfile, usage: c.cacheUsage)
            .respond(.complete(built.reader))
        response.headers[.eTag] = etag
        response.headers[.cacheControl] = "private, no-cache"
        response.headers[.contentType] = "application/x-tar"
        response.headers[.contentDisposition] = "attachment; filename=\"\(app.slug)-\(sequence)-bundle.tar\""
        response.headers[.acceptRanges] = "bytes"
        return response
    }
}
