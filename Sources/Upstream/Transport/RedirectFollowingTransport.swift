import Foundation

/// Follows redirects (blob downloads are commonly sent to a CDN) by hand, so that
/// `Authorization` is dropped as soon as a redirect leaves the registry's host: the
/// vendor's credentials belong to the registry, and a CDN gets a signed URL and nothing else.
public struct RedirectFollowingTransport: UpstreamTransport {
    let next: any UpstreamTransport
    let maxRedirects: Int

    public init(wrapping next: any UpstreamTransport, maxRedirects: Int = 5) {
        self.next = next
        self.maxRedirects = maxRedirects
    }

    static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var current = request
        let origin = Self.origin(of: request.url)
        for _ in 0...maxRedirects {
            var response = try await next.send(current)
            guard Self.redirectStatuses.contains(response.status), let location = response.header("Location") else {
                // Who answered matters: a 401 from a redirect target is not the registry's challenge.
                if current.url != request.url { response.redirectedTo = current.url }
                return response
            }
            await response.body.drain()
            guard let target = URL(string: location, relativeTo: URL(string: current.url))?.absoluteURL,
                  let scheme = target.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
                throw UpstreamError.invalidResponse("redirect to an unusable location")
            }
            // Same scheme, host and port, or no credentials: a downgrade to http or another
            // port is another origin as much as another host is.
            if Self.origin(of: target.absoluteString) != origin { current.headers.remove(name: "Authorization") }
            current.url = target.absoluteString
        }
        throw UpstreamError.invalidResponse("too many redirects")
    }

    /// Scheme, host and effective port of a URL.
    static func origin(of url: String) -> String? {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), let host = u.host?.lowercased() else { return nil }
        let port = u.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host):\(port)"
    }
}
