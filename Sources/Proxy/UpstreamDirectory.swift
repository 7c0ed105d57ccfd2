import Foundation
import OCI
import Storage
import Synchronization
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

/// The registries a proxy path can mean, and how to reach them.
public struct UpstreamCandidates: Sendable {
    /// The registry as the path named it.
    public var requested: ProxyName.Upstream
    /// Each registry it can mean, with the repository as that upstream names it (Docker Hub's
    /// official images under `library/`).
    public var registries: [(registry: RegistryRecord, repository: String)]
}

/// Maps `proxy/<app>/<upstream>/<repo>` to the registered upstreams it can mean. Only a
/// registry found here, and allowed by `AccessRules.upstream` for the caller's app, is ever
/// asked for anything: a name that resolves to no such registry causes no outbound request.
public actor UpstreamDirectory {
    private let store: any RegistryStore
    private let secrets: SecretBox
    private var cached: [RegistryRecord]?
    private var loadedAt = Date.distantPast
    /// Bounds how stale another replica's registry changes can be here.
    private let refreshInterval: TimeInterval
    /// Each registry's target as last made, with the record it was made from: every proxied
    /// request needs one, and making it opens the sealed secret and hashes the credentials.
    /// Reused only for an identical record, so any change (credentials, endpoint, realms) makes a new one.
    private nonisolated let targets = Mutex<[String: (record: RegistryRecord, target: UpstreamTarget)]>([:])

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

    /// The registries a proxy path can mean: the one it names, or for a node mirror's host every
    /// registry with that host; with the repository as each upstream names it. Which of them the
    /// caller's app may use is not decided here (`AccessRules.upstream` decides); nil when the
    /// path names no registry at all. Only the names of `usable` registries are taken as names:
    /// another app's registry name reads as any other path would, so asking tells nothing of it.
    public func candidates(_ name: RepositoryName, usable: (RegistryRecord) -> Bool) async throws -> UpstreamCandidates? {
        let all = try await registries()
        let names = Set(all.filter(usable).map(\.name))
        guard let proxy = ProxyName.parse(name, isRegistryName: { names.contains($0) }) else { return nil }
        return candidates(proxy, among: all)
    }

    /// A node mirror's request: the registries with the host containerd names in `?ns=`.
    public func mirroredCandidates(host: String, repository: String) async throws -> UpstreamCandidates {
        let canonical = canonicalRegistryHost(host)
        let repository = canonical == DockerHub.canonicalHost ? DockerHub.repository(repository) : repository
        return candidates(ProxyName(app: "", upstream: .host(canonical), repository: repository), among: try await registries())
    }

    private func candidates(_ proxy: ProxyName, among all: [RegistryRecord]) -> UpstreamCandidates {
        let matching = switch proxy.upstream {
        case .named(let slug): all.filter { $0.name == slug }
        case .host(let host): all.filter { $0.host == host }
        }
        return UpstreamCandidates(requested: proxy.upstream, registries: matching.map {
            ($0, $0.host == DockerHub.canonicalHost ? DockerHub.repository(proxy.repository) : proxy.repository)
        })
    }

    /// The upstream to fetch from, once a candidate has been allowed.
    public nonisolated func resolved(_ registry: RegistryRecord, repository: String) throws -> ResolvedUpstream {
        ResolvedUpstream(registry: registry, target: try target(for: registry), repository: repository)
    }

    public nonisolated func target(for registry: RegistryRecord) throws -> UpstreamTarget {
        if let made = targets.withLock({ $0[registry.id] }), made.record == registry { return made.target }
        let target = try makeTarget(for: registry)
        targets.withLock { $0[registry.id] = (registry, target) }
        return target
    }

    private nonisolated func makeTarget(for registry: RegistryRecord) throws -> UpstreamTarget {
        let host = Origin(registry.endpoint)?.host ?? registry.host
        return UpstreamTarget(id: registry.id, name: registry.name, baseURL: registry.endpoint, login: try login(for: registry),
                              tokenRealmHosts: UpstreamTarget.knownTokenHosts(forRegistryHost: host).union(registry.tokenRealms),
                              credentialsKey: Self.credentialsKey(registry))
    }

    /// A fingerprint of what a registry's logins are made with (endpoint, user, sealed secret,
    /// region, kind): it changes with any of them, and shows none (a hash of the sealed form).
    static func credentialsKey(_ registry: RegistryRecord) -> String {
        let material = [registry.endpoint, registry.username ?? "", registry.sealedSecret ?? "", registry.region ?? "", registry.authType]
        return String(Digest.of(Array(material.joined(separator: "\n").utf8)).hex.prefix(16))
    }

    private nonisolated func login(for registry: RegistryRecord) throws -> UpstreamLogin {
        guard let sealed = registry.sealedSecret else { return .anonymous }
        let secret = try secrets.open(sealed)
        if let region = registry.region, registry.authType == RegistryAuthType.accessKey {
            return .ecr(ECRAccess(accessKeyID: registry.username ?? "", secretAccessKey: secret, region: region))
        }
        return .basic(BasicCredentials(username: registry.username ?? "", password: secret))
    }
}
