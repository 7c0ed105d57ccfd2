import Access
import HTTPTypes
import Foundation
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
        // Without a public URL only the server's own addresses are echoed into challenges, tokens
        // and pull secrets; any other Host (client-controlled) gets the listen address.
        host = Self.requestHost(request).flatMap { Self.isOwnAddress($0, configuration) ? $0 : nil } ?? Self.listenAddress(configuration)
    }

    /// Whether a Host names this server as it listens: its listen host (or, listening on every
    /// interface, an address literal) or localhost, on its listen port.
    static func isOwnAddress(_ authority: String, _ configuration: ServerConfiguration) -> Bool {
        var name = authority, port = configuration.usesTLS ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]"), let p = Int(authority[authority.index(after: colon)...]) {
            name = String(authority[..<colon])
            port = p
        }
        guard port == configuration.port else { return false }
        let bare = name.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if bare == configuration.host.lowercased() || bare == "localhost" || bare == "127.0.0.1" || bare == "::1" { return true }
        return configuration.listensOnWildcard && IPv4Literal.isLiteral(bare)
    }

    /// The listen address as clients can name it (`localhost` for a wildcard listen address).
    static func listenAddress(_ configuration: ServerConfiguration) -> String {
        configuration.listensOnWildcard ? "localhost:\(configuration.port)" : configuration.listenAuthority
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

    /// What to tell someone reading commands that name `host` when they reached the server
    /// under another name: without `--public-url` only the server's own addresses go into
    /// commands, and a name it does not know (a DNS name, a load balancer's) is not one of them.
    func foreignHostNotice(_ request: Request, configuration: ServerConfiguration) -> String? {
        guard configuration.publicURL == nil, domainApp == nil, let asked = Self.requestHost(request), asked != host else { return nil }
        return "These commands name \(host), the address this server was started with; this page was reached as \(asked). "
            + "If that is the address clusters use, the server needs --public-url set to it."
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
    var requestAddress: RequestAddress { RequestAddress(host: host, domainApp: domainApp, defaultHost: defaultHost, scheme: scheme) }
}

enum IPv4Literal {
    /// `a.b.c.d` or an IPv6 literal.
    static func isLiteral(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) && Int($0)! <= 255 }) { return true }
        return text.contains(":") && text.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }
}
