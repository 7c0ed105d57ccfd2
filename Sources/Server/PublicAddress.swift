import Access
import HTTPTypes
import Hummingbird

/// Where clients reach this server: an app's custom domain when the request's `Host` is one,
/// else the configured public URL, else the request's Host.
struct PublicAddress: Sendable {
    var scheme: String
    /// `host[:port]`
    var host: String
    /// The app whose custom domain `host` is.
    var domainApp: String?
    /// The configured public host, which stays valid beside custom domains.
    var defaultHost: String?

    init(configuration: ServerConfiguration, request: Request) {
        let configured = configuration.publicURL.flatMap(PublicAddress.parse)
        defaultHost = configured?.host
        if let configured {
            scheme = configured.scheme
            host = configured.host
            return
        }
        scheme = configuration.usesTLS ? "https" : "http"
        host = Self.requestHost(request) ?? "\(configuration.host):\(configuration.port)"
    }

    init(scheme: String, host: String, domainApp: String? = nil, defaultHost: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.domainApp = domainApp
        self.defaultHost = defaultHost
    }

    /// The address of a request, looking its Host up among the custom domains.
    static func of(_ request: Request, configuration: ServerConfiguration, domains: DomainDirectory) async throws -> PublicAddress {
        var address = PublicAddress(configuration: configuration, request: request)
        if let host = requestHost(request), let domain = try await domains.domain(forHost: host) {
            // The challenge and the token's audience name the domain: a client is never sent elsewhere.
            address.host = host
            address.domainApp = domain.appSlug
        }
        return address
    }

    /// The Host header, when it is made of host-name characters only (it is client-controlled).
    static func requestHost(_ request: Request) -> String? {
        guard let header = request.head.authority, !header.isEmpty,
              header.allSatisfy({ $0.isLetter || $0.isNumber || "-.:[]".contains($0) }) else { return nil }
        return header.lowercased()
    }

    static func parse(_ url: String) -> PublicAddress? {
        var rest = Substring(url)
        var scheme = "https"
        if let r = rest.range(of: "://") {
            scheme = String(rest[..<r.lowerBound]).lowercased()
            rest = rest[r.upperBound...]
        }
        while rest.hasSuffix("/") { rest.removeLast() }
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        return PublicAddress(scheme: scheme, host: rest.lowercased())
    }

    /// The token service name, which is also the audience of the tokens it issues.
    var service: String { host }
    var tokenRealm: String { "\(scheme)://\(host)/v2/token" }
    var requestAddress: RequestAddress { RequestAddress(host: host, domainApp: domainApp, defaultHost: defaultHost) }
}
