import Foundation
import OCI
import Storage
import Upstream

/// A proxy path resolved to a registered upstream the app may use.
public struct ResolvedUpstream: Sendable {
    public var registry: RegistryRecord
    public var target: UpstreamTarget
    /// Repository on the upstream (Docker Hub names normalised to `library/…`).
    public var repository: String

    public init(registry: RegistryRecord, target: UpstreamTarget, repository: String) {
        self.registry = registry
        self.target = target
        self.repository = repository
    }
}

/// Maps `proxy/<app>/<upstream>/<repo>` to a registered upstream, or refuses. This is the
/// guard that keeps Portcullis from being an open proxy: a name that does not resolve to a
/// registry registered for that app never causes an outbound request.
public actor UpstreamDirectory {
    private let store: any RegistryStore
    private let secrets: SecretBox
    private var cached: [RegistryRecord]?
    private var loadedAt = Date.distantPast
    /// Bounds how stale another replica's registry changes can be here.
    private let refreshInterval: TimeInterval

    public init(store: any RegistryStore, secrets: SecretBox, refreshInterval: TimeInterval = 10) {
        self.store = store
        self.secrets = secrets
        self.refreshInterval = refreshInterval
    }

    /// Forgets cached registries; called after this replica changes them.
    public func invalidate() { cached = nil }

    func registries() async throws -> [RegistryRecord] {
        if let cached, Date().timeIntervalSince(loadedAt) < refreshInterval { return cached }
        let fresh = try await store.registries()
        cached = fresh
        loadedAt = Date()
        return fresh
    }

    public func resolve(_ name: RepositoryName, appID: String) async throws -> ResolvedUpstream {
        let names = Set(try await registries().map(\.name))
        guard let proxy = ProxyName.parse(name, isRegistryName: { names.contains($0) }) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        return try await resolve(proxy, appID: appID)
    }

    /// A node mirror's request: the upstream by the host containerd names in `?ns=`.
    public func resolveMirrored(host: String, repository: String, appID: String) async throws -> ResolvedUpstream {
        let canonical = canonicalRegistryHost(host)
        let repository = canonical == DockerHub.canonicalHost ? DockerHub.repository(repository) : repository
        return try await resolve(ProxyName(app: "", upstream: .host(canonical), repository: repository), appID: appID)
    }

    private func resolve(_ proxy: ProxyName, appID: String) async throws -> ResolvedUpstream {
        let all = try await registries()
        let registry: RegistryRecord?
        switch proxy.upstream {
        case .named(let slug): registry = all.first { $0.name == slug }
        case .host(let host): registry = all.first { $0.host == host && $0.isAvailable(toApp: appID) }
        }
        guard let registry, registry.isAvailable(toApp: appID) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        let repository = registry.host == DockerHub.canonicalHost ? DockerHub.repository(proxy.repository) : proxy.repository
        // Outside the vendor's allowlist is the same answer as an unknown name, and costs no upstream request.
        guard Self.allows(registry, repository) else { throw RegistryError(.nameUnknown, "repository name not known to registry") }
        return ResolvedUpstream(registry: registry, target: try target(for: registry), repository: repository)
    }

    static func allows(_ registry: RegistryRecord, _ repository: String) -> Bool {
        registry.allowedRepositories.isEmpty
            || registry.allowedRepositories.contains { (try? RepositoryPattern(parsing: $0))?.matches(repository) ?? false }
    }

    public func target(for registry: RegistryRecord) throws -> UpstreamTarget {
        let host = Origin(registry.endpoint)?.host ?? registry.host
        return UpstreamTarget(id: registry.id, name: registry.name, baseURL: registry.endpoint, login: try login(for: registry),
                              tokenRealmHosts: UpstreamTarget.knownTokenHosts(forRegistryHost: host).union(registry.tokenRealms))
    }

    private func login(for registry: RegistryRecord) throws -> UpstreamLogin {
        guard let sealed = registry.sealedSecret else { return .anonymous }
        let secret = try secrets.open(sealed)
        if let region = registry.region, registry.authType == RegistryAuthType.accessKey {
            return .ecr(ECRAccess(accessKeyID: registry.username ?? "", secretAccessKey: secret, region: region))
        }
        return .basic(BasicCredentials(username: registry.username ?? "", password: secret))
    }
}
