/// Docker Hub's many spellings, folded so that every one reaches the same cache entries.
public enum DockerHub {
    /// How Portcullis names Docker Hub in cache keys and registry records.
    public static let canonicalHost = "docker.io"
    /// Where its registry API actually answers.
    public static let apiHost = "registry-1.docker.io"
    static let aliases: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]

    public static func isDockerHub(host: String) -> Bool { aliases.contains(host.lowercased()) }

    /// `nginx` → `library/nginx`; other names unchanged.
    public static func repository(_ name: String) -> String {
        name.contains("/") ? name : "library/" + name
    }
}

/// Normalises a registry host for comparison: lowercase, Docker Hub aliases folded.
public func canonicalRegistryHost(_ host: String) -> String {
    let lower = host.lowercased()
    return DockerHub.isDockerHub(host: lower) ? DockerHub.canonicalHost : lower
}

/// A repository under `proxy/<app>/…`, split into the app and the upstream part.
///
/// Which upstream `<upstream>` names needs the vendor's registry list, so this only
/// classifies: the first component is a registry name if one matches, else a host when
/// it looks like one (has `.` or `:` or is `localhost`), else the whole rest is a Docker Hub path.
public struct ProxyName: Equatable, Sendable {
    public enum Upstream: Equatable, Sendable {
        /// A registry registered under this name (slug).
        case named(String)
        /// A registry host, canonicalised (`docker.io` for every Docker Hub spelling).
        case host(String)
    }

    public var app: String
    public var upstream: Upstream
    /// The repository on the upstream, before any per-registry normalisation.
    public var repository: String

    public static let prefix = "proxy"

    public init(app: String, upstream: Upstream, repository: String) {
        self.app = app
        self.upstream = upstream
        self.repository = repository
    }

    /// Returns nil when `name` is not a proxy path (`proxy/<app>/<something>`).
    public static func parse(_ name: RepositoryName, isRegistryName: (String) -> Bool) -> ProxyName? {
        let parts = name.components
        guard parts.count >= 3, parts[0] == prefix else { return nil }
        let app = String(parts[1])
        let first = String(parts[2])
        let rest = parts.dropFirst(3).joined(separator: "/")
        if isRegistryName(first), !rest.isEmpty {
            return ProxyName(app: app, upstream: .named(first), repository: rest)
        }
        if looksLikeHost(first) {
            guard !rest.isEmpty else { return nil }
            let host = canonicalRegistryHost(first)
            let repo = host == DockerHub.canonicalHost ? DockerHub.repository(rest) : rest
            return ProxyName(app: app, upstream: .host(host), repository: repo)
        }
        let path = parts.dropFirst(2).joined(separator: "/")
        return ProxyName(app: app, upstream: .host(DockerHub.canonicalHost), repository: DockerHub.repository(path))
    }

    public static func looksLikeHost(_ component: String) -> Bool {
        component.contains(".") || component.contains(":") || component == "localhost"
    }
}
