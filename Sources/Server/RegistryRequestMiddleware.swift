import Access
import Charts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import OCI
import Proxy
import Storage

/// Around every registry request: turns what went wrong into the OCI error a client should
/// see, and leaves one log line, the request metrics and one pull record, allowed or not,
/// from what the route recorded in the request's outcome.
struct RegistryRequestMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    let c: Components

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = await render(error, request: request, outcome: context.outcome)
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        let facts = context.outcome.current
        let status = Int(response.status.code)
        Counter(label: "portcullis_http_requests_total", dimensions: [("route", Self.routeLabel(facts.action)), ("status", String(status))])
            .increment()
        // Zero-copy responses carry their length in the header only: the pipeline sends the body.
        let declared = response.headers[.contentLength].flatMap { Int64($0) }
        let bytes = request.method == .head ? 0 : declared ?? Int64(response.body.contentLength ?? 0)
        let elapsed = ContinuousClock.now - started
        c.logger.info("registry request", metadata: [
            "method": "\(request.method.rawValue)", "repository": "\(facts.repository)", "reference": "\(facts.reference)",
            "action": "\(facts.action)", "status": "\(status)", "bytes": "\(bytes)",
            "customer": "\(facts.customerID ?? "-")", "app": "\(facts.appSlug ?? "-")",
            "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            "remote": "\(context.remoteAddress?.ipAddress ?? "-")",
            "reason": "\(facts.reason ?? "-")",
        ])
        if facts.action != "ping", status >= 400, !facts.proved, facts.customerID == nil {
            await c.pulls.addStrangerRefusal(status: status)
        } else if facts.action != "ping" {
            await c.pulls.add(PullRecord(customerID: facts.customerID, appSlug: facts.appSlug, repository: facts.repository,
                                         reference: facts.reference, action: facts.action, status: status, bytes: bytes,
                                         reason: facts.reason))
        }
        return response
    }

    /// The answer for a failed request; records why in the outcome.
    private func render(_ error: any Error, request: Request, outcome: RequestOutcome) async -> Response {
        let answer = ClientFacingError(error)
        outcome.update { $0.reason = answer.reason }
        if let metric = answer.deniedMetric { Counter(label: "portcullis_denied_requests_total", dimensions: [("reason", metric)]).increment() }
        if answer.isInternal {
            c.logger.error("registry request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
        } else if let unavailable = error as? StorageUnavailable {
            c.logger.warning("storage unavailable", metadata: ["error": "\(unavailable)", "path": "\(request.uri.path)"])
        }
        if let failure = error as? ProxyFailure, failure.upstream == .authenticationFailed {
            // The vendor's stored credentials were refused: tell the vendor, once an hour per registry.
            let parts = outcome.current.repository.split(separator: "/")
            let registry = parts.count > 2 ? String(parts[2]) : outcome.current.repository
            c.control.webhooks?.emit(.upstreamAuthFailed, ["registry": registry, "app": outcome.current.appSlug ?? ""],
                                     oncePer: 3600, key: "upstream.auth_failed:" + registry)
        }
        return answer.registryResponse(bearerChallenge: {
            let address = outcome.current.address ?? PublicAddress(configuration: c.configuration, request: request)
            let scopes = outcome.current.challengeScopes
            return AuthChallenge.bearer(realm: address.tokenRealm, service: address.service,
                                        scope: scopes.isEmpty ? nil : scopes.map(\.description).joined(separator: " "))
        }())
    }

    static func routeLabel(_ action: String) -> String {
        switch action {
        case "manifest", "blob", "tags", "referrers", "token", "ping": action
        case "chart": "manifest"
        case "push-blob", "push-manifest": "push"
        case "delete": "delete"
        default: "other"
        }
    }
}

/// Failed logins slow down: per source address and per credential.
struct LoginThrottling {
    let c: Components

    /// Who a request's Basic credentials name (any username; a license ID or vendor token as the
    /// password), as the token endpoint, bundles and the SDK's API take them. Credentials that
    /// are refused count toward this throttle, and are never treated as anonymous.
    func authenticate(_ header: String?, _ request: Request, context: PortcullisContext) async throws
        -> (basic: BasicCredentials, principal: Principal) {
        guard let header, let basic = BasicCredentials.parse(authorization: header) else {
            throw TokenRefusal(message: "credentials required: username anything, password the license ID")
        }
        do {
            return (basic, try await c.gate.authenticate(basic: basic))
        } catch let refusal as AccessRefusal {
            try await recordFailure(request, context: context)
            throw TokenRefusal(message: refusal.message)
        }
    }

    /// The keys a login counts against: the source address, and the account or credential tried.
    func keys(_ request: Request, context: PortcullisContext, account: String? = nil) -> [String] {
        var keys = ["address:" + (context.remoteAddress?.ipAddress ?? "unknown")]
        if let account {
            keys.append("account:" + SecretBox.lookupHash(account))
        } else if let header = request.headers[.authorization] {
            let secret = BasicCredentials.parse(authorization: header)?.password ?? header
            keys.append("credential:" + SecretBox.lookupHash(secret))
        }
        return keys
    }

    /// Throws when the address or account is already over the limit: asked before the password
    /// is checked, so a guess past the limit costs nothing and is refused even when right.
    func checkAllowed(_ request: Request, context: PortcullisContext, account: String? = nil) async throws {
        if let retryAfter = await c.throttle.retryAfter(keys: keys(request, context: context, account: account)) {
            throw ThrottledLogin(retryAfter: retryAfter)
        }
    }

    /// Counts a failed login; throws once either key is over the limit.
    func recordFailure(_ request: Request, context: PortcullisContext, account: String? = nil) async throws {
        if let retryAfter = await c.throttle.recordFailure(keys: keys(request, context: context, account: account)) {
            throw ThrottledLogin(retryAfter: retryAfter)
        }
    }
}

/// Too many failed logins from this address or with this credential: wherever it surfaces, a
/// 429 that says when to try again (never a 500).
struct ThrottledLogin: HTTPResponseError {
    var retryAfter: TimeInterval

    var status: HTTPResponse.Status { .tooManyRequests }

    var seconds: String { String(Int(max(1, retryAfter.rounded(.up)))) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .tooManyRequests, headers: [.retryAfter: seconds, .contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: "too many failed logins; try again in \(seconds) s\n")))
    }
}
