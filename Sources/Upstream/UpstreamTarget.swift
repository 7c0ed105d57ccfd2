import OCI

/// One vendor registry as the upstream client needs it: where it is and how to log in.
public struct UpstreamTarget: Sendable {
    /// Stable identity, used to key cached upstream tokens.
    public var id: String
    /// The registry's name, for metrics and logs.
    public var name: String
    /// `https://host[:port]` without a trailing slash.
    public var baseURL: String
    public var credentials: BasicCredentials?

    public init(id: String, name: String, baseURL: String, credentials: BasicCredentials?) {
        self.id = id
        self.name = name
        self.baseURL = baseURL
        self.credentials = credentials
    }
}

/// Parses what a vendor types as an endpoint (`quay.io`, `http://127.0.0.1:5000`, `https://r.example/`)
/// into a base URL and the canonical host key proxy paths use.
public struct RegistryEndpoint: Equatable, Sendable {
    public var scheme: String
    /// `host[:port]`, lowercased.
    public var authority: String

    public init(parsing text: String) throws(UpstreamConfigError) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var scheme = "https"
        if let range = rest.range(of: "://") {
            scheme = rest[..<range.lowerBound].lowercased()
            rest = rest[range.upperBound...]
        }
        guard scheme == "https" || scheme == "http" else { throw .invalidEndpoint("scheme must be http or https") }
        while rest.hasSuffix("/") { rest.removeLast() }
        if rest.hasSuffix("/v2") { rest.removeLast(3) }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#"),
              rest.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "[" || $0 == "]" })
        else { throw .invalidEndpoint("endpoint must be a host name with an optional port, e.g. quay.io or http://127.0.0.1:5000") }
        self.scheme = scheme
        var authority = rest.lowercased()
        if DockerHub.isDockerHub(host: authority) { authority = DockerHub.apiHost }
        self.authority = authority
    }

    public var baseURL: String { "\(scheme)://\(authority)" }
    /// The key a host-addressed proxy path matches (`docker.io` for every Docker Hub spelling).
    public var canonicalHost: String { canonicalRegistryHost(authority) }
}

public enum UpstreamConfigError: Error, CustomStringConvertible, Equatable {
    case invalidEndpoint(String)
    public var description: String {
        switch self { case .invalidEndpoint(let s): "invalid endpoint: \(s)" }
    }
}
