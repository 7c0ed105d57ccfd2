import Foundation
import OCI
import Synchronization

/// Apps by slug, kept in memory in front of the store: every registry request names its app,
/// and apps change rarely. Only apps that exist are remembered, so a new app is seen at once.
public final class MemoizedAppStore: AppStore {
    private let store: any AppStore
    private let ttl: TimeInterval
    private let bySlug = Mutex<[String: (app: AppRecord, loadedAt: Date)]>([:])

    public init(_ store: any AppStore, ttl: TimeInterval = 10) {
        self.store = store
        self.ttl = ttl
    }

    public func createApp(_ app: AppRecord) async throws {
        try await store.createApp(app)
        bySlug.withLock { $0.removeAll() }
    }

    public func apps() async throws -> [AppRecord] { try await store.apps() }

    public func app(slug: String) async throws -> AppRecord? {
        let now = Date()
        if let hit = bySlug.withLock({ $0[slug] }), now.timeIntervalSince(hit.loadedAt) < ttl { return hit.app }
        guard let app = try await store.app(slug: slug) else { return nil }
        bySlug.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[slug] = (app, now)
        }
        return app
    }

    public func app(id: String) async throws -> AppRecord? { try await store.app(id: id) }
}

/// The proxy's index with what never changes kept in memory: manifest records (content-
/// addressed) and the upstream repositories blobs were seen in (never taken back). Tags are
/// written through; a tag read here is at most as fresh as this replica's last check, which
/// is what the freshness policy decides on anyway.
public final class MemoizedProxyIndex: ProxyIndex, BlobVisibilityIndex {
    private let index: any ProxyIndex
    private let visibility: any BlobVisibilityIndex
    private let manifests = Mutex<[Digest: ManifestRecord]>([:])
    private let tags = Mutex<[String: CachedTag]>([:])
    private let seen = Mutex<Set<String>>([])
    private let limit = 100_000

    public init(index: any ProxyIndex, visibility: any BlobVisibilityIndex) {
        self.index = index
        self.visibility = visibility
    }

    private func tagKey(_ registryID: String, _ repository: String, _ tag: String) -> String {
        registryID + "\n" + repository + "\n" + tag
    }

    public func tag(registryID: String, repository: String, tag: String) async throws -> CachedTag? {
        let key = tagKey(registryID, repository, tag)
        if let hit = tags.withLock({ $0[key] }) { return hit }
        let found = try await index.tag(registryID: registryID, repository: repository, tag: tag)
        if let found { remember(found, key) }
        return found
    }

    public func putTag(registryID: String, repository: String, tag: String, _ value: CachedTag) async throws {
        try await index.putTag(registryID: registryID, repository: repository, tag: tag, value)
        remember(value, tagKey(registryID, repository, tag))
    }

    private func remember(_ value: CachedTag, _ key: String) {
        tags.withLock { tags in
            if tags.count > limit { tags.removeAll() }
            tags[key] = value
        }
    }

    public func manifest(_ digest: Digest) async throws -> ManifestRecord? {
        if let hit = manifests.withLock({ $0[digest] }) { return hit }
        let found = try await index.manifest(digest)
        if let found { manifests.withLock { if $0.count > limit { $0.removeAll() }; $0[digest] = found } }
        return found
    }

    public func putManifest(_ record: ManifestRecord) async throws {
        try await index.putManifest(record)
        manifests.withLock { if $0.count > limit { $0.removeAll() }; $0[record.digest] = record }
    }

    public func isVisible(_ digest: Digest, in place: BlobVisibility) async throws -> Bool {
        guard case .upstream = place else { return try await visibility.isVisible(digest, in: place) }
        let key = "\(place) \(digest)"
        if seen.withLock({ $0.contains(key) }) { return true }
        let visible = try await visibility.isVisible(digest, in: place)
        if visible { remember(key) }
        return visible
    }

    public func makeVisible(_ digest: Digest, in place: BlobVisibility) async throws {
        guard case .upstream = place else { return try await visibility.makeVisible(digest, in: place) }
        let key = "\(place) \(digest)"
        // Already recorded: a cache hit must not cost a database write.
        if seen.withLock({ $0.contains(key) }) { return }
        try await visibility.makeVisible(digest, in: place)
        remember(key)
    }

    public func renewVisible(_ digest: Digest, in place: BlobVisibility) async throws -> Bool {
        try await visibility.renewVisible(digest, in: place)
    }

    public func hide(_ digest: Digest, in place: BlobVisibility) async throws -> Bool {
        seen.withLock { _ = $0.remove("\(place) \(digest)") }
        return try await visibility.hide(digest, in: place)
    }

    private func remember(_ key: String) {
        seen.withLock { seen in
            if seen.count > limit { seen.removeAll() }
            seen.insert(key)
        }
    }
}
