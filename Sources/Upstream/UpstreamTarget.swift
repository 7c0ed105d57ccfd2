import OCI

/// One vendor registry as the upstream client needs it: where it is and how to log in.
public struct UpstreamTarget: Sendable {
    /// Stable identity of the registry.
    public var id: String
    /// What cached upstream tokens and exchanged passwords are kept under: the registry and the
    /// credentials they were got with, so a token got with credentials the vendor has since
    /// changed is never sent again, on any replica, once it reads the changed registry. Nil:
    /// the id (targets made for one request, with no stored credentials).
    public var credentialsKey: String?

    /// The key of this target's cached tokens: `<id>` or `<id>#<credentials fingerprint>`.
    public var tokenKey: String { credentialsKey.map { id + "#" + $0 } ?? id }
    /// The registry's name, for metrics and logs.
    public var name: String
    /// `https://host[:port]` without a trailing slash.
    public var baseURL: String
    public var login: UpstreamLogin
    /// Hosts whose token services may be asked for a login besides the registry's own host:
    /// the provider's known token host (`auth.docker.io`) and any the vendor approved.
    public var tokenRealmHosts: Set<String>

    public init(id: String, name: String, baseURL: String, login: UpstreamLogin, tokenRealmHosts: Set<String> = [],
                credentialsKey: String? = nil) {
        self.id = id
        self.credentialsKey = credentialsKey
        self.name = name
        self.baseURL = baseURL
        self.login = login
        self.tokenRealmHosts = Set(tokenRealmHosts.map { $0.lowercased() })
    }

    /// Whether a token service at `realm` may be asked for a login for this registry: on the
    /// registry's own host, or on a host approved for it. Anything else would hand the vendor's
    /// credentials (or a token for them) to whoever the registry's answer names.
    public func approvesRealm(_ realm: String) -> Bool {
        guard let realm = Origin(realm), let endpoint = Origin(baseURL) else { return false }
        if realm.host == endpoint.host { return true }
        return tokenRealmHosts.contains(realm.host) || tokenRealmHosts.contains(realm.authority)
    }

    /// Token services registries of a kind use on a host of their own.
    public static func knownTokenHosts(forRegistryHost host: String) -> Set<String> {
        DockerHub.isDockerHub(host: host) ? ["auth.docker.io"] : []
    }
}

/// How Portcullis logs in to a vendor's registry.
public enum UpstreamLogin: Sendable, Equatable {
    /// A public registry: anonymous tokens only.
    case anonymous
    /// A username with a password, token, robot secret or (Google) JSON key.
    case basic(BasicCredentials)
    /// An AWS access key, exchanged with ECR for a registry password that lasts up to 12 hours.
    case ecr(ECRAccess)
}

/// What ECR's `GetAuthorizationToken` is called with.
public struct ECRAccess: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var region: String

    public init(accessKeyID: String, secretAccessKey: String, region: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
    }

    /// The region of an ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com`, also
    /// the FIPS and China spellings), or nil for any other host.
    public static func region(ofHost authority: String) -> String? {
        let host = authority.split(separator: ":").first.map(String.init) ?? authority
        let labels = host.lowercased().split(separator: ".").map(String.init)
        guard let dkr = labels.firstIndex(of: "dkr"), dkr >= 1, labels.count > dkr + 3,
              labels[dkr + 1] == "ecr" || labels[dkr + 1] == "ecr-fips", labels[dkr + 3] == "amazonaws" else { return nil }
        let region = labels[dkr + 2]
        return region.isEmpty ? nil : region
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
        if let refusal = OutboundRefusal.ofPort(in: "\(scheme)://\(rest)") { throw .invalidEndpoint(refusal.reason) }
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
