import Foundation
import Logging
import Metrics
import OCI
import ServiceLifecycle
import Storage

/// Keeps the proxy cache under its size limit, least recently pulled content first.
///
/// Every pass writes the recency gathered since the last one, then, over the limit, evicts
/// down to `EvictionPlan.target`. What a cached manifest references is never a candidate
/// until that manifest is evicted; content in use here (see `CacheUsage`) or being filled is
/// skipped; content that a vendor repository, a release or a delivered chart also holds
/// loses its cache entry but keeps its bytes. A request for evicted content fetches it again.
public actor CacheEvictor: Service {
    private let entries: any CacheEntryStore
    private let blobs: BlobCache
    private let usage: CacheUsage
    private let limit: Int64?
    private let interval: Duration
    private let logger: Logger

    /// With a nil `limit` only recency is recorded, so that a limit set later starts from it.
    public init(entries: any CacheEntryStore, blobs: BlobCache, usage: CacheUsage, limit: Int64?, interval: Duration, logger: Logger) {
        self.entries = entries
        self.blobs = blobs
        self.usage = usage
        self.limit = limit
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            if self.limit != nil { await self.adoptUntracked() }
            Counter(label: "portcullis_cache_evictions_total").increment(by: 0)
            await self.measure()
            while !Task.isCancelled {
                // A pass after shutdown's cancellation fails its writes and loses the recency it took.
                guard (try? await Task.sleep(for: self.interval)) != nil else { break }
                await self.pass()
            }
        }
        await Task { await self.writeRecency() }.value
    }

    /// The cache's size now, and its limit (nil: unbounded).
    public func status() async throws -> (bytes: Int64, limit: Int64?) {
        (try await entries.cachedTotalSize(), limit)
    }

    func pass() async {
        await writeRecency()
        guard let limit else { return await measure() }
        do {
            let (count, freed) = try await evict(toFit: limit)
            if count > 0 {
                logger.info("evicted cached content", metadata: ["count": "\(count)", "bytes": "\(freed)", "limit": "\(limit)"])
            }
        } catch {
            logger.warning("cache eviction failed; retrying next pass", metadata: ["error": "\(error)"])
        }
    }

    /// Gives content cached by an older version (before entries were kept) an entry, so the
    /// limit covers it: its size, and for a manifest what it references. It counts as pulled
    /// when it was adopted.
    func adoptUntracked() async {
        var adopted = 0
        do {
            while !Task.isCancelled {
                let batch = try await entries.untrackedCachedDigests(limit: 500)
                var progressed = false
                for digest in batch {
                    guard let size = try await blobs.store.size(of: digest) else { continue }
                    var references: [Digest] = []
                    if size <= 4 << 20, let bytes = try await blobs.store.readAll(digest, limit: 4 << 20),
                       let manifest = try? ManifestSummary(parsing: bytes.readableBytesView, contentType: nil) {
                        references = manifest.requiredBlobDigests + manifest.manifests.map(\.digest)
                    }
                    try await entries.recordCached(digest, size: size, references: references, at: Date())
                    adopted += 1
                    progressed = true
                }
                // Links to bytes that are gone get no entry; stop once only those are left.
                if batch.count < 500 || !progressed { break }
            }
        } catch {
            logger.warning("could not adopt content cached by an older version", metadata: ["error": "\(error)"])
        }
        if adopted > 0 { logger.info("adopted cached content into the size limit", metadata: ["count": "\(adopted)"]) }
    }

    private func writeRecency() async {
        let pulled = usage.takePulled()
        guard !pulled.isEmpty else { return }
        do {
            try await entries.touchCached(pulled, at: Date())
        } catch {
            logger.warning("could not record cache recency", metadata: ["count": "\(pulled.count)", "error": "\(error)"])
        }
    }

    /// `portcullis_cache_bytes` from the start and with no limit too (a pass over the limit
    /// records it as it evicts).
    private func measure() async {
        if let total = try? await entries.cachedTotalSize() { Gauge(label: "portcullis_cache_bytes").record(total) }
    }

    /// Evicts until the cache is at its target size, or only busy content is left.
    func evict(toFit limit: Int64) async throws -> (count: Int, bytes: Int64) {
        var total = try await entries.cachedTotalSize()
        Gauge(label: "portcullis_cache_bytes").record(total)
        guard total > limit else { return (0, 0) }
        let target = EvictionPlan.target(for: limit)
        var count = 0, freed: Int64 = 0
        while total > target {
            let candidates = try await entries.evictionCandidates(limit: 256)
            var busy = Set<Digest>()
            for candidate in candidates {
                if usage.isInUse(candidate.digest) { busy.insert(candidate.digest) }
                else if await blobs.isFilling(candidate.digest) { busy.insert(candidate.digest) }
            }
            let chosen = EvictionPlan.select(candidates, excess: total - target, isBusy: busy.contains)
            guard !chosen.isEmpty else { break }
            for victim in chosen {
                // Checked again here, atomically with new claims: a pull may have begun since.
                guard usage.beginEviction(victim.digest) else { continue }
                defer { usage.endEviction(victim.digest) }
                guard await !blobs.isFilling(victim.digest) else { continue }
                if try await entries.forgetCached(victim.digest) {
                    try await blobs.store.delete(victim.digest)
                    freed += victim.size
                }
                count += 1
            }
            Counter(label: "portcullis_cache_evictions_total").increment(by: chosen.count)
            total = try await entries.cachedTotalSize()
        }
        Gauge(label: "portcullis_cache_bytes").record(total)
        return (count, freed)
    }
}
