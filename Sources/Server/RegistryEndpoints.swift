import Access
import Foundation
import HTTPTypes
import Hummingbird
import Licensing
import Logging
import Metrics
import NIOCore
import OCI
import Proxy
import Storage
import Upstream

/// The distribution API: authentication, the license gate, and dispatch to the proxy.
/// Every request leaves one log line and one pull record, allowed or not.
struct RegistryEndpoints: Sendable {
    let c: Components

    func register(on router: Router<PortcullisContext>) {
        for path: RouterPath in ["/v2", "/v2/**"] {
            for method: HTTPRequest.Method in [.get, .head, .put, .post, .patch, .delete] {
                router.on(path, method: method, use: handle)
            }
        }
    }

    /// What a request was about, filled in as it is handled, for the log and the pull record.
    struct Outcome {
        var customerID: String?
        var appSlug: String?
        var repository = ""
        var reference = ""
        var action = "ping"
        var reason: String?
    }

    @Sendable func handle(_ request: Request, context: PortcullisContext) async throws -> Response {
        let started = ContinuousClock.now
        var outcome = Outcome()
        var response: Response
        do {
            response = try await route(request, remote: context.remoteAddress?.ipAddress, &outcome)
        } catch let throttled as ThrottledLogin {
            outcome.reason = "too many failed logins"
            Counter(label: "portcullis_denied_requests_total", dimensions: [("reason", "rate_limited")]).increment()
            response = .registryError(RegistryError(.tooManyRequests, "too many failed logins; retry later"),
                                      headers: [.retryAfter: String(Int(throttled.retryAfter.rounded(.up)))])
        } catch let error as RegistryError {
            outcome.reason = error.message
            response = .registryError(error)
        } catch let refusal as TokenRefusal {
            outcome.reason = refusal.message
            Counter(label: "portcullis_denied_requests_total", dimensions: [("reason", "unauthorized")]).increment()
            response = .registryError(RegistryError(.unauthorized, refusal.message), headers: [.wwwAuthenticate: #"Basic realm="portcullis""#])
        } catch let refusal as GateRefusal {
            outcome.reason = refusal.message
            if outcome.customerID == nil, let header = request.headers[.authorization],
               let basic = BasicCredentials.parse(authorization: header) {
                // A refused license (expired, archived) still belongs to a customer: say whose.
                outcome.customerID = await c.gate.customerID(license: basic.password)
            }
            let reason = if case .denied = refusal { "denied" } else { "unauthorized" }
            Counter(label: "portcullis_denied_requests_total", dimensions: [("reason", reason)]).increment()
            response = refusalResponse(refusal, request: request, repository: outcome.repository)
        } catch let error as UpstreamError {
            let mapped = Self.registryError(for: error, notFound: Self.notFoundCode(outcome.action))
            outcome.reason = error.description
            response = .registryError(mapped)
        } catch {
            c.logger.error("registry request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            outcome.reason = "internal error"
            response = .registryError(RegistryError(.unavailable, "internal error", status: 500))
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        let status = Int(response.status.code)
        Counter(label: "portcullis_http_requests_total", dimensions: [("route", Self.routeLabel(outcome.action)), ("status", String(status))])
            .increment()
        let bytes = request.method == .head ? 0 : Int64(response.body.contentLength ?? 0)
        let elapsed = ContinuousClock.now - started
        c.logger.info("registry request", metadata: [
            "method": "\(request.method.rawValue)", "repository": "\(outcome.repository)", "reference": "\(outcome.reference)",
            "action": "\(outcome.action)", "status": "\(status)", "bytes": "\(bytes)",
            "customer": "\(outcome.customerID ?? "-")", "app": "\(outcome.appSlug ?? "-")",
            "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            "remote": "\(context.remoteAddress?.ipAddress ?? "-")",
            "reason": "\(outcome.reason ?? "-")",
        ])
        if outcome.action != "ping" {
            await c.pulls.add(PullRecord(customerID: outcome.customerID, appSlug: outcome.appSlug, repository: outcome.repository,
                                         reference: outcome.reference, action: outcome.action, status: status, bytes: bytes,
                                         reason: outcome.reason))
        }
        return response
    }

    private func route(_ request: Request, remote: String?, _ outcome: inout Outcome) async throws -> Response {
        let address = PublicAddress(configuration: c.configuration, request: request)
        if request.uri.path == "/v2/token" {
            outcome.action = "token"
            do {
                return try await TokenEndpoint(c: c).issue(request, address: address, outcome: &outcome)
            } catch let refusal as TokenRefusal where request.headers[.authorization] != nil {
                try await throttle(request, remote: remote)
                throw refusal
            }
        }
        guard let path = try RegistryPath.parse(request.uri.path) else {
            throw RegistryError(.nameUnknown, "no such registry endpoint")
        }
        if let name = path.repository { outcome.repository = name.description }
        outcome.action = Self.action(of: path)
        let caller: Caller
        do {
            caller = try await c.gate.authenticate(authorization: request.headers[.authorization], service: address.service)
        } catch let refusal as GateRefusal where request.headers[.authorization] != nil {
            try await throttle(request, remote: remote)
            throw refusal
        }
        if case .customer(let license) = caller.principal {
            outcome.customerID = license.customerID
            outcome.appSlug = license.appSlug
        }
        guard let name = path.repository else {
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        outcome.appSlug = outcome.appSlug ?? AccessPolicy.appSlug(of: name)
        let action: RegistryAction = request.method == .get || request.method == .head ? .pull : (request.method == .delete ? .delete : .push)
        if case .deny(let why) = AccessPolicy.decide(caller.principal, action, on: name) {
            throw GateRefusal.denied(why)
        }
        if let granted = caller.tokenAccess, !granted.contains(where: { $0.name == name.description && $0.actions.contains(action.rawValue) }) {
            // The token was issued for another scope: a fresh challenge lets the client get one for this.
            throw GateRefusal.unauthorized("token does not cover this repository")
        }
        guard AccessPolicy.isProxy(name) else {
            return try await HostedEndpoints(c: c).handle(request, path: path, name: name, caller: caller, address: address, outcome: &outcome)
        }
        guard action == .pull else {
            throw RegistryError(.unsupported, "proxied repositories are read-only")
        }
        let appID = try await appID(for: caller.principal, name: name)
        let up = try await c.directory.resolve(name, appID: appID)
        let head = request.method == .head

        switch path {
        case .manifest(_, let reference):
            outcome.action = "manifest"
            outcome.reference = reference.description
            let served = try await c.proxy.manifest(up, reference, wantBody: !head)
            var headers: HTTPFields = [
                .contentType: served.record.mediaType,
                .contentLength: String(served.record.size),
                dockerContentDigest: served.record.digest.description,
                .eTag: "\"\(served.record.digest)\"",
            ]
            if served.stale { headers[.warning] = "110 - \"response is stale\"" }
            return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: served.bytes ?? ByteBuffer()))

        case .blob(_, let digest):
            outcome.action = "blob"
            outcome.reference = digest.description
            if head {
                let size = try await c.proxy.blobSize(up, digest)
                return Response(status: .ok, headers: blobHeaders(digest, length: size), body: .init())
            }
            return try await BlobResponder(request: request, digest: digest, sendfile: c.sendfile).respond(try await c.proxy.blob(up, digest))

        case .tags:
            outcome.action = "tags"
            return try Self.tagListResponse(try await c.proxy.tags(up), request: request, name: name)

        case .referrers(_, let digest):
            outcome.action = "referrers"
            outcome.reference = digest.description
            let artifactType = request.uri.queryParameters["artifactType"].map(String.init)
            let body = try await c.proxy.referrers(up, digest, artifactType: artifactType)
                ?? ByteBuffer(string: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#)
            return Response(status: .ok, headers: [.contentType: ManifestMediaType.ociIndex], body: .init(byteBuffer: body))

        case .base, .uploads, .upload:
            throw RegistryError(.unsupported, "proxied repositories are read-only")
        }
    }

    /// Counts a failed login against the source address and the credential; throws once either is over the limit.
    private func throttle(_ request: Request, remote: String?) async throws {
        var keys = ["address:" + (remote ?? "unknown")]
        if let header = request.headers[.authorization] {
            let secret = BasicCredentials.parse(authorization: header)?.password ?? header
            keys.append("credential:" + SecretBox.lookupHash(secret))
        }
        if let retryAfter = await c.throttle.recordFailure(keys: keys) { throw ThrottledLogin(retryAfter: retryAfter) }
    }

    static func action(of path: RegistryPath) -> String {
        switch path {
        case .base: "ping"
        case .manifest: "manifest"
        case .blob: "blob"
        case .tags: "tags"
        case .referrers: "referrers"
        case .uploads, .upload: "push-blob"
        }
    }

    static func routeLabel(_ action: String) -> String {
        switch action {
        case "manifest", "blob", "tags", "referrers", "token", "ping": action
        case "chart": "manifest"
        default: "other"
        }
    }

    private func appID(for principal: Principal, name: RepositoryName) async throws -> String {
        if case .customer(let license) = principal { return license.appID }
        guard let slug = AccessPolicy.appSlug(of: name), let app = try await c.store.app(slug: slug) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        return app.id
    }

    private func refusalResponse(_ refusal: GateRefusal, request: Request, repository: String) -> Response {
        switch refusal {
        case .unauthorized(let message):
            let address = PublicAddress(configuration: c.configuration, request: request)
            let scope = repository.isEmpty ? nil : "repository:\(repository):pull"
            let challenge = AuthChallenge.bearer(realm: address.tokenRealm, service: address.service, scope: scope)
            return .registryError(RegistryError(.unauthorized, message), headers: [.wwwAuthenticate: challenge])
        case .denied(let message):
            return .registryError(RegistryError(.denied, message))
        }
    }

    static func notFoundCode(_ action: String) -> RegistryErrorCode {
        switch action {
        case "manifest": .manifestUnknown
        case "blob": .blobUnknown
        default: .nameUnknown
        }
    }

    static func registryError(for error: UpstreamError, notFound: RegistryErrorCode) -> RegistryError {
        switch error {
        case .notFound: RegistryError(notFound, "\(notFound == .manifestUnknown ? "manifest" : notFound == .blobUnknown ? "blob" : "repository") unknown to registry")
        case .authenticationFailed: RegistryError(.unavailable, "the upstream registry refused the vendor's registry credentials", status: 502)
        case .rateLimited: RegistryError(.tooManyRequests, "the upstream registry is rate limiting; try again later")
        case .unreachable, .serverError: RegistryError(.unavailable, "the upstream registry is unavailable", status: 503)
        case .unexpectedStatus, .invalidResponse: RegistryError(.unavailable, "the upstream registry gave an invalid response", status: 502)
        }
    }

    /// A sorted page of tags with the `Link` to the next page.
    static func tagListResponse(_ all: [String], request: Request, name: RepositoryName) throws -> Response {
        let query = request.uri.queryParameters
        let n = query["n"].flatMap { Int($0) }
        if let n, n < 0 { throw RegistryError(.unsupported, "n must not be negative") }
        let page = TagPage(all: all, n: n, last: query["last"].map(String.init))
        var headers: HTTPFields = [.contentType: "application/json"]
        if let link = page.link(name: name.description, n: n) { headers[.link] = link }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.json(name: name.description))))
    }
}

/// Too many failed logins from this address or with this credential.
struct ThrottledLogin: Error {
    var retryAfter: TimeInterval
}

let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!

extension HTTPField.Name {
    static let warning = HTTPField.Name("Warning")!
    static let link = HTTPField.Name("Link")!
    static let dockerDistributionAPIVersion = HTTPField.Name("Docker-Distribution-API-Version")!
}

func blobHeaders(_ digest: Digest, length: Int64) -> HTTPFields {
    [
        .contentType: "application/octet-stream",
        .contentLength: String(length),
        dockerContentDigest: digest.description,
        .acceptRanges: "bytes",
        .eTag: "\"\(digest)\"",
        .cacheControl: "max-age=31536000",
    ]
}
