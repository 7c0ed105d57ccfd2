import Foundation
import OCI

/// Proxied content as the cache's size limit sees it.
public struct CachedContent: Sendable, Equatable {
    public var digest: Digest
    public var size: Int64
    public var lastPulledAt: Date

    public init(digest: Digest, size: Int64, lastPulledAt: Date) {
        self.digest = digest
        self.size = size
        self.lastPulledAt = lastPulledAt
    }
}

/// What the proxy cache holds, how big it is and when each piece was last pulled, so the
/// least recently pulled content can be evicted. Only content fetched from an upstream is
/// recorded here: what vendors push is data, never cache.
public protocol CacheEntryStore: Sendable {
    /// Records a blob or manifest fetched from an upstream; a manifest names what it references
    /// (config, layers, child manifests), which stay cached as long as it does.
    func recordCached(_ digest: Digest, size: Int64, references: [Digest], at: Date) async throws
    /// Marks content as pulled at `at` (one write for a batch of pulls).
    func touchCached(_ digests: [Digest], at: Date) async throws
    func cachedTotalSize() async throws -> Int64
    /// The least recently pulled content that no cached manifest references, oldest first.
    func evictionCandidates(limit: Int) async throws -> [CachedContent]
    /// Forgets evicted content: its entry, what it referenced, the cached tags that lead to it.
    /// Returns whether its bytes may go, which they may not while a vendor repository, a
    /// release or a delivered chart also holds the same digest.
    func forgetCached(_ digest: Digest) async throws -> Bool
    /// Proxied content cached before entries were kept (a data directory from an older
    /// version): digests an upstream link or a cached manifest names that have no entry.
    func untrackedCachedDigests(limit: Int) async throws -> [Digest]
}

/// A vendor repository's claim on a blob of the shared store.
public struct HostedLink: Sendable, Equatable {
    public var repository: String
    public var digest: Digest
    /// When the blob was pushed or mounted here, or last named by a manifest being pushed.
    public var linkedAt: Date

    public init(repository: String, digest: Digest, linkedAt: Date) {
        self.repository = repository
        self.digest = digest
        self.linkedAt = linkedAt
    }
}

/// What garbage collection of vendor repositories reads and removes.
public protocol HostedCollectionStore: Sendable {
    /// Every blob claimed by a vendor repository.
    func hostedLinks() async throws -> [HostedLink]
    /// Every manifest stored in a vendor repository, as (repository, digest).
    func hostedManifests() async throws -> [(repository: String, digest: Digest)]
    /// Removes a repository's claim unless it was renewed at or after `cutoff` or the digest is
    /// now a manifest of that repository; returns whether it was removed.
    func removeHostedLink(repository: String, digest: Digest, linkedBefore cutoff: Date) async throws -> Bool
    /// Whether anything still holds the digest: a vendor repository or delivered chart, a
    /// release's chart archive, a manifest of a vendor repository, a cached manifest or a cache
    /// entry. With `besidesVendorRepositories`, vendor repositories' blob links do not count.
    func isHeldAnywhere(_ digest: Digest, besidesVendorRepositories: Bool) async throws -> Bool
}

/// Air-gap bundles already built, kept as blobs (and as cache: eviction may take them, and
/// they are built again when asked for).
public protocol BundleStore: Sendable {
    func bundle(key: String) async throws -> (digest: Digest, size: Int64)?
    func putBundle(key: String, digest: Digest, size: Int64) async throws
}

/// A customer's delivered chart nobody has pulled for a while: what `gc` may forget.
public struct IdleDeliveredChart: Sendable, Equatable {
    public var key: String
    public var digest: Digest
    /// Where its blobs are linked: `.chart(.customer(id:), repository:)`.
    public var place: BlobVisibility
    public var usedAt: Date

    public init(key: String, digest: Digest, place: BlobVisibility, usedAt: Date) {
        self.key = key
        self.digest = digest
        self.place = place
        self.usedAt = usedAt
    }
}

/// Charts already built for a recipient: the key of what was injected (and into which chart and
/// repository) to the manifest it made, so a pull is a lookup, on every replica.
public protocol DeliveredChartStore: Sendable {
    /// The recipe's manifest, marking it delivered at `at`; nil when there is none (never built,
    /// or forgotten by `gc`).
    func useDeliveredChart(key: String, at: Date) async throws -> (digest: Digest, size: Int64)?
    /// Records a recipe built for `place` (the place its blobs were linked in).
    func putDeliveredChart(key: String, digest: Digest, size: Int64, place: BlobVisibility, at: Date) async throws
    /// Marks the recipes whose manifest is `digest` in `place` delivered at `at` (a pull by digest).
    func touchDeliveredChart(digest: Digest, in place: BlobVisibility, at: Date) async throws
    /// Fills in what recipes recorded by an older version lack: their place (from their links)
    /// and a last use of `now`, so they are forgotten only once unused from here on.
    func prepareDeliveredChartsForCollection(now: Date) async throws
    /// Customers' delivered charts last delivered before `cutoff`, oldest first. Vendors' are
    /// never listed: one per chart and channel, they do not grow with customers.
    func idleDeliveredCharts(usedBefore cutoff: Date, limit: Int) async throws -> [IdleDeliveredChart]
    /// Forgets the recipe if it is still unused since `cutoff`; whether it did.
    func forgetDeliveredChart(key: String, usedBefore cutoff: Date) async throws -> Bool
    /// Removes the blob links a forgotten chart made in `place`, and its manifest's record,
    /// unless another recipe still names the same manifest there.
    func unlinkDeliveredChart(manifest: Digest, parts: [Digest], in place: BlobVisibility) async throws
}
