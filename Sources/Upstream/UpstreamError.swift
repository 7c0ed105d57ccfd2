import NIOHTTP1

/// How a request to a vendor's registry failed, in terms the proxy can act on.
public enum UpstreamError: Error, Equatable, CustomStringConvertible {
    /// Could not connect, timed out, or the connection broke.
    case unreachable(String)
    /// The registry's host name does not resolve (now; it is looked up again at every connection).
    case unresolvable(host: String)
    /// The stored credentials were refused (401/403 after authenticating).
    case authenticationFailed
    case notFound
    /// 429, with the registry's `Retry-After` in seconds when it sent one.
    case rateLimited(retryAfter: Int?)
    case serverError(Int)
    case unexpectedStatus(Int)
    case invalidResponse(String)
    /// The upstream named a host Portcullis does not connect to (a private or metadata address),
    /// or one that does not resolve; nothing was sent there.
    case refusedDestination(host: String, reason: String)
    /// The upstream asked for a login at a token service not approved for this registry, or a
    /// redirect target asked for credentials; none were sent.
    case unapprovedLogin(host: String)

    /// True when a cached answer should be served instead (the upstream is down or overloaded,
    /// not saying that the content is gone).
    public var isOutage: Bool {
        switch self {
        case .unreachable, .unresolvable, .rateLimited, .serverError: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let why): "upstream unreachable: \(why)"
        case .unresolvable(let host): "upstream unreachable: \(host) does not resolve"
        case .authenticationFailed: "upstream refused the registry credentials"
        case .notFound: "not found upstream"
        case .rateLimited: "upstream is rate limiting"
        case .serverError(let s): "upstream error \(s)"
        case .unexpectedStatus(let s): "unexpected upstream status \(s)"
        case .invalidResponse(let why): "invalid upstream response: \(why)"
        case .refusedDestination(let host, let reason): "upstream pointed to \(host), which is not connected to: \(reason)"
        case .unapprovedLogin(let host): "upstream asked for a login at \(host), which is not approved for this registry"
        }
    }

    public static func from(status: Int, headers: HTTPHeaders = [:]) -> UpstreamError {
        switch status {
        case 401, 403: .authenticationFailed
        case 404: .notFound
        case 429: .rateLimited(retryAfter: headers.first(name: "Retry-After").flatMap { Int($0) })
        case 500...599: .serverError(status)
        default: .unexpectedStatus(status)
        }
    }
}
