import HTTPTypes
import Hummingbird

/// Where clients reach this server: the configured public URL, else the request's Host.
struct PublicAddress {
    var scheme: String
    /// `host[:port]`
    var host: String

    init(configuration: ServerConfiguration, request: Request) {
        if let url = configuration.publicURL, let parsed = PublicAddress.parse(url) {
            self = parsed
            return
        }
        scheme = configuration.usesTLS ? "https" : "http"
        let header = request.head.authority ?? "\(configuration.host):\(configuration.port)"
        // The Host header is client-controlled: keep it to host-name characters.
        let safe = header.allSatisfy { $0.isLetter || $0.isNumber || "-.:[]".contains($0) }
        host = safe && !header.isEmpty ? header.lowercased() : "\(configuration.host):\(configuration.port)"
    }

    init(scheme: String, host: String) {
        self.scheme = scheme
        self.host = host
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
}
