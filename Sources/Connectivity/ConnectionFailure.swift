/// Why an HTTP exchange failed before any answer, as a person can act on it: the HTTP and TLS
/// libraries describe their errors with type names, error codes and the source paths of the
/// build, none of which tells a vendor that the registry speaks plain HTTP or that a CA is
/// missing. Used for upstream registries (`registry add`, `registry test`, pulls), by the CLI
/// for the Portcullis API and for the database at start, so all say the same thing about the
/// same failure.
public enum ConnectionFailure: Equatable, Sendable {
    case refused
    /// TLS was spoken to something that answered in plain HTTP.
    case notTLS
    /// The peer hung up at once: typically plain HTTP spoken to a TLS port.
    case closedAtOnce
    case untrustedCertificate
    case certificateNotForHost
    /// The CA file holds no certificate.
    case unreadableCA
    case unresolvable
    case timedOut
    case badURL
    case other(String)

    public init(_ error: any Error) {
        self.init(text: String(describing: error), type: String(describing: type(of: error)))
    }

    /// From the reflection of an error whose description hides its cause (PostgresNIO's).
    public init(reflected text: String) {
        self.init(text: text, type: "error")
    }

    private init(text: String, type: String) {
        func has(_ words: String...) -> Bool { words.contains { text.contains($0) } }
        if has("WRONG_VERSION_NUMBER") {
            self = .notTLS
        } else if has("NO_CERTIFICATE_OR_CRL_FOUND", "NO_START_LINE", "PEM_R_") {
            self = .unreadableCA
        } else if has("failedToValidateHostname") {
            self = .certificateNotForHost
        } else if has("CERTIFICATE_VERIFY_FAILED", "certificate verify failed") {
            self = .untrustedCertificate
        } else if has("Connection refused", "connectionRefused") {
            self = .refused
        } else if has("remoteConnectionClosed", "uncleanShutdown") {
            self = .closedAtOnce
        } else if has("UnknownHost", "DNS error", "does not resolve") {
            self = .unresolvable
        } else if has("deadlineExceeded", "connectTimeout", "readTimeout") {
            self = .timedOut
        } else if has("invalidURL", "unsupportedScheme", "emptyScheme", "emptyHost") {
            self = .badURL
        } else {
            self = .other(Self.plain(text, type: type))
        }
    }

    /// What happened, in words; `caFile` is the CA bundle the client trusted, when one was given.
    public func describe(caFile: String? = nil) -> String {
        switch self {
        case .refused: "the connection was refused (nothing listens on that host and port?)"
        case .notTLS: "the server does not answer TLS; if it serves plain HTTP, give the URL as http://host:port"
        case .closedAtOnce: "the server closed the connection at once; if it serves HTTPS, give the URL as https://"
        case .untrustedCertificate:
            caFile.map { "its TLS certificate was not accepted: not signed by a CA in \($0), expired, or not yet valid" }
                ?? "its TLS certificate is not trusted (self-signed, or from a CA this machine does not trust)"
        case .certificateNotForHost: "its TLS certificate is not for this host name or address"
        case .unreadableCA: "the CA file \(caFile ?? "given") holds no PEM certificate"
        case .unresolvable: "the host name does not resolve"
        case .timedOut: "no answer in time (a firewall dropping packets, or the wrong port?)"
        case .badURL: "the URL is not http(s)://host[:port]"
        case .other(let text): text
        }
    }

    /// An unclassified error's text without the source paths BoringSSL's messages carry, cut
    /// at a word boundary.
    static func plain(_ text: String, type: String) -> String {
        let plain = text.replacing(/\ at \/[^\]\s,;]+/, with: "")
        guard plain.count > 200 else { return type + ": " + plain }
        let cut = plain.prefix(200)
        return type + ": " + (cut.lastIndex(of: " ").map { String(cut[..<$0]) } ?? String(cut)) + " …"
    }
}
