import Foundation
import Proxy

/// Everything `portcullis serve` can be told, with the embedded defaults.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "./portcullis-data"
    /// The scheme and host clients use to reach this server (pull secrets, token realms).
    /// When nil, clients are told the listen address (a request's own Host only when it names
    /// this server as it listens: a client-chosen Host is never echoed into tokens and secrets).
    public var publicURL: String?
    /// Where the other replicas reach this one, to stream a blob it is still fetching, as
    /// `advertiseURL(parsing:)` gives it (no trailing slash). Nil:
    /// derived from the listen address when that names one host, else none (the others wait
    /// for the blob to reach the object store).
    public var advertiseURL: String?
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Offer HTTP/2 over TLS (ALPN); HTTP/1.1 clients are served as before.
    public var http2 = false
    /// Lifetime of registry tokens; also bounds how long a revoked license's token works.
    public var tokenLifetime: TimeInterval = 300
    public var tagTTL: TimeInterval = 60
    public var staleLimit: TimeInterval = 24 * 3600
    /// Time to wait for an upstream's response head.
    public var upstreamTimeout: TimeInterval = 30
    public var manifestLimit = 4 << 20
    /// Failed logins per source address or per credential within a minute before 429.
    public var loginFailureLimit = 10
    /// Requests per minute per source address for anonymous pulls of public repositories.
    public var anonymousRateLimit = 300
    /// Whether upstreams, token services and webhooks may be on private addresses (on-premises
    /// registries). Link-local and metadata addresses are refused regardless.
    public var allowPrivateUpstreams = false
    /// When set, `/metrics` answers only requests bearing it.
    public var metricsToken: String?
    /// Refused requests of one customer within an hour that make a `pull.refused` webhook event.
    public var refusedPullThreshold = 20
    /// How often licenses are checked for `license.expiring` events, in seconds.
    public var expiryScanInterval: TimeInterval = 600
    /// An instance whose SDK has not checked in for this long is inactive.
    public var instanceInactiveAfter: TimeInterval = 86_400
    /// How long in-flight requests may run after SIGTERM before they are cut.
    public var shutdownGrace: TimeInterval = 30
    /// Largest request header block accepted.
    public var maxHeaderBytes = 64 * 1024
    /// `postgres://USER:PASS@HOST:PORT/DB`; nil for SQLite in the data directory.
    public var databaseURL: String?
    /// `s3://BUCKET[/PREFIX]`; nil for a blob directory in the data directory.
    public var blobStoreURL: String?
    /// Answer blob GETs with a redirect to a presigned object-store URL valid this long; nil serves them here.
    public var blobRedirectTTL: Int?
    /// The key that seals secrets at rest (32 bytes); nil for the data directory's `secret.key`.
    /// Replicas sharing a database must all have the same one.
    public var secretKey: [UInt8]?
    /// How large the proxy cache may grow before the least recently pulled content is evicted; nil: unbounded.
    public var cacheLimit: CacheLimit?
    /// How often the cache's size is checked and pull recency written, in seconds.
    public var cacheCheckInterval: TimeInterval = 30
    /// How long raw pull records are kept (daily summaries are kept for good); nil: for good.
    public var pullRetention: TimeInterval?
    /// Traces are recorded (a tracer was bootstrapped): requests get spans from the first middleware.
    public var tracing = false
    /// The bootstrap admin token; nil for the data directory's `admin-token`.
    public var adminToken: String?

    public init() {}

    public var usesTLS: Bool { tlsCertificatePath != nil }

    /// Whether the listen address is a wildcard (every interface), which names no one host.
    public var listensOnWildcard: Bool { ["0.0.0.0", "::", ""].contains(host) }

    /// The listen address as `host:port`, an IPv6 host in brackets.
    public var listenAuthority: String {
        "\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// An `--advertise-url` as given, checked: an http(s) URL with a host. An IPv6 address
    /// written without brackets (as Kubernetes' downward API gives a pod's IP, put into
    /// `http://$(POD_IP):8080`) is bracketed rather than refused. Nil when it is no such URL.
    public static func advertiseURL(parsing text: String) -> String? {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound]
        var authority = text[schemeEnd.upperBound...]
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        // A host name, an IPv4 address or a bracketed IPv6 one, and a port: an unexpanded
        // `$(POD_IP)` is refused here, not found out at the first peer request.
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-:[]"))
        guard ["http", "https"].contains(scheme), !authority.isEmpty,
              authority.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else { return nil }
        let url = "\(scheme)://\(authority)"
        if URL(string: url)?.host?.isEmpty == false { return authorityProblem(authority) == nil ? url : nil }
        guard !authority.contains("["), authority.filter({ $0 == ":" }).count >= 2, let lastColon = authority.lastIndex(of: ":"),
              Int(authority[authority.index(after: lastColon)...]) != nil else { return nil }
        let bracketed = "\(scheme)://[\(authority[..<lastColon])]\(authority[lastColon...])"
        return URL(string: bracketed)?.host?.isEmpty == false ? bracketed : nil
    }

    /// Why `text` cannot be the public URL, or nil. Clients build the token realm and every
    /// pull secret from it, so a scheme they cannot speak, a port that is not one, or a path
    /// they would drop (registries live at the host's root) is refused at start.
    public static func publicURLProblem(_ text: String) -> String? {
        var authority = Substring(text)
        if let schemeEnd = text.range(of: "://") {
            let scheme = text[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else { return "must be an http:// or https:// URL, not \(scheme)://" }
            authority = text[schemeEnd.upperBound...]
        }
        while authority.hasSuffix("/") { authority = authority.dropLast() }
        guard !authority.isEmpty else { return "names no host" }
        guard !authority.contains(where: { "/?#@".contains($0) }) else {
            return "must be a scheme and host[:port] only (registries are served at the host's root; no path, query or user)"
        }
        return authorityProblem(authority)
    }

    /// Why `authority` (host, host:port or [IPv6]:port) is not one, or nil.
    static func authorityProblem(_ authority: Substring) -> String? {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-:[]"))
        guard authority.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            return "\(authority.debugDescription) is not a host name or address"
        }
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return "an IPv6 address needs its closing ]" }
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return "\(authority.debugDescription) is not host:port" }
                port = rest.dropFirst()
            }
        } else if authority.filter({ $0 == ":" }).count == 1, let colon = authority.firstIndex(of: ":") {
            port = authority[authority.index(after: colon)...]
        } else if authority.contains(":") {
            return "an IPv6 address goes in brackets, such as [2001:db8::1]:8443"
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else { return "port \(port) is not a port (1-65535)" }
        }
        return nil
    }

    /// The base URL given to the other replicas: the one configured, or the listen address when
    /// it is one host (not a wildcard, which names no address another machine could use).
    public var peerAddress: String? {
        if let advertiseURL { return advertiseURL }
        guard !listensOnWildcard, port != 0 else { return nil }
        return "\(usesTLS ? "https" : "http")://\(listenAuthority)"
    }
}
