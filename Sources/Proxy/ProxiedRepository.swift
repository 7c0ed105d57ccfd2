import Foundation
import Logging
import Metrics
import NIOCore
import OCI
import RegistryCore
import Storage
import Tracing
import Upstream

/// What every proxied repository shares: the index of upstream content, the blob cache,
/// the upstream client and the freshness policy.
public struct ProxyCache: Sendable {
    let index: any ProxyIndex
    let visibility: any BlobVisibilityIndex
    public let blobs: BlobCache
    let manifestBytes: ManifestBytes
    let upstream: any UpstreamRegistry
    let policy: ProxyPolicy
    /// Where fetched content is recorded for eviction, and how recently it was pulled.
    let entries: (any CacheEntryStore)?
    public let usage: CacheUsage
    let logger: Logger

    public init(index: any ProxyIndex, visibility: any BlobVisibilityIndex, blobs: BlobCache, manifestBytes: ManifestBytes = ManifestBytes(),
                upstream: any UpstreamRegistry, policy: ProxyPolicy, entries: (any CacheEntryStore)? = nil, usage: CacheUsage = CacheUsage(),
                logger: Logger) {
        self.entries = entries
        self.usage = usage
        self.index = index
        self.visibility = visibility
        self.blobs = blobs
        self.manifestBytes = manifestBytes
        self.upstream = upstream
        self.policy = policy
        self.logger = logger
    }

    /// The repository `up` names, served through this cache.
    public func repository(_ up: ResolvedUpstream) -> ProxiedRepository {
        ProxiedRepository(upstream: up, cache: self)
    }
}

/// One upstream repository seen through the cache: manifests by digest and blobs are
/// content-addressed and kept; tags are trusted for the policy's TTL, then revalidated,
/// and served stale while the upstream fails. Upstream failures become the registry
/// errors a client should see.
///
/// Blobs are pulled through: what is known to belong to this upstream repository is read
/// from the local store as any repository reads it (`PlacedBlobs`); the rest comes from the
/// upstream, one fetch however many ask (`BlobCache`), and belongs here once fetched.
public struct ProxiedRepository: RepositoryReader {
    public let upstream: ResolvedUpstream
    let cache: ProxyCache

    private var here: BlobVisibility { .upstream(registryID: upstream.registry.id, repository: upstream.repository) }
    private var local: PlacedBlobs { PlacedBlobs(store: cache.blobs.store, visibility: cache.visibility, place: here) }
    private var target: UpstreamTarget { upstream.target }
    private var repository: String { upstream.repository }

    // MARK: Manifests

    public func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent {
        try await withSpan("cache.lookup") { span in
            span.attributes["portcullis.upstream"] = upstream.registry.name
            span.attributes["portcullis.repository"] = repository
            span.attributes["portcullis.reference"] = reference.description
            let content = try await mappingUpstreamErrors(notFound: .manifestUnknown) {
                switch reference {
                case .digest(let digest): try await manifest(digest: digest, wantBody: wantBody)
                case .tag(let tag): try await manifest(tag: tag, wantBody: wantBody, now: Date())
                }
            }
            span.attributes["portcullis.digest"] = content.record.digest.description
            return content
        }
    }

    private func manifest(digest: Digest, wantBody: Bool) async throws -> ManifestContent {
        if let record = try await cache.index.manifest(digest), try await isManifestHere(digest),
           let served = try await load(record, wantBody: wantBody, stale: false) {
            try await local.admit(digest)
            count("portcullis_cache_hits_total")
            return served
        }
        count("portcullis_cache_misses_total")
        return try await fetchManifest(reference: digest.description, expected: digest, tag: nil, now: Date())
    }

    private func manifest(tag: String, wantBody: Bool, now: Date) async throws -> ManifestContent {
        let cached = try await cache.index.tag(registryID: upstream.registry.id, repository: repository, tag: tag)
        let cachedRecord = if let cached { try await cache.index.manifest(cached.digest) } else { ManifestRecord?.none }
        let checkedAt = cachedRecord == nil ? nil : cached?.checkedAt
        do {
            switch TagFreshness.of(checkedAt: checkedAt, now: now, policy: cache.policy) {
            case .fresh:
                if let cachedRecord, let served = try await load(cachedRecord, wantBody: wantBody, stale: false) {
                    count("portcullis_cache_hits_total")
                    return served
                }
            case .revalidate:
                if let cached, let cachedRecord {
                    let head = try await cache.upstream.manifestHead(target, repository: repository, reference: tag)
                    if head.digest == cached.digest, let served = try await load(cachedRecord, wantBody: wantBody, stale: false) {
                        try await cache.index.putTag(registryID: upstream.registry.id, repository: repository, tag: tag,
                                                     CachedTag(digest: cached.digest, checkedAt: now))
                        count("portcullis_cache_hits_total")
                        return served
                    }
                }
            case .missing:
                break
            }
            count("portcullis_cache_misses_total")
            return try await fetchManifest(reference: tag, expected: nil, tag: tag, now: now)
        } catch let error as UpstreamError {
            if TagFreshness.mayServeStale(checkedAt: checkedAt, now: now, policy: cache.policy, outage: error.isOutage),
               let cachedRecord, let served = try await load(cachedRecord, wantBody: wantBody, stale: true) {
                count("portcullis_stale_serves_total")
                cache.logger.warning("serving cached tag while upstream fails", metadata: [
                    "registry": "\(upstream.registry.name)", "repository": "\(repository)", "tag": "\(tag)", "error": "\(error)"])
                return served
            }
            throw error
        }
    }

    private func load(_ record: ManifestRecord, wantBody: Bool, stale: Bool) async throws -> ManifestContent? {
        await cache.usage.claim(record.digest)
        if let bytes = cache.manifestBytes.get(record.digest) {
            return ManifestContent(record: record, bytes: wantBody ? bytes : nil, stale: stale)
        }
        guard wantBody else {
            return try await cache.blobs.store.size(of: record.digest) != nil ? ManifestContent(record: record, bytes: nil, stale: stale) : nil
        }
        guard let bytes = try await cache.blobs.store.readAll(record.digest, limit: cache.policy.manifestLimit) else { return nil }
        cache.manifestBytes.put(bytes, for: record.digest)
        return ManifestContent(record: record, bytes: bytes, stale: stale)
    }

    private func fetchManifest(reference: String, expected: Digest?, tag: String?, now: Date) async throws -> ManifestContent {
        let fetched = try await cache.upstream.manifest(target, repository: repository, reference: reference, limit: cache.policy.manifestLimit)
        let algorithm = expected?.algorithm ?? fetched.digestHeader?.algorithm ?? .sha256
        let digest = Digest.of(fetched.bytes, algorithm: algorithm)
        if let expected, expected != digest {
            cache.logger.error("upstream manifest does not match its digest", metadata: ["expected": "\(expected)", "actual": "\(digest)"])
            throw UpstreamError.invalidResponse("manifest content does not match digest \(expected)")
        }
        if let header = fetched.digestHeader, header != digest {
            cache.logger.error("upstream manifest does not match Docker-Content-Digest", metadata: ["header": "\(header)", "actual": "\(digest)"])
            throw UpstreamError.invalidResponse("manifest content does not match the digest the upstream declared")
        }
        // Served only as what it parses as: a body that is no manifest of a known type (an HTML
        // page, whatever its Content-Type claims) is never cached nor served, so a browser can
        // never be handed an upstream's script on Portcullis's origin.
        let summary: ManifestSummary
        do { summary = try ManifestSummary(parsing: fetched.bytes.readableBytesView, contentType: fetched.mediaType) } catch {
            if Self.isDockerSchema1(fetched.bytes, contentType: fetched.mediaType) {
                // A 4xx, so clients print the reason (they show none for a 502); not cached.
                throw RegistryError(.manifestUnknown, "this image's manifest is Docker schema 1, which Portcullis does not serve "
                                    + "(deprecated since 2017, refused by current clients): the vendor must push the image again with a current client")
            }
            cache.logger.warning("upstream answered a manifest request with something else",
                                 metadata: ["registry": "\(upstream.registry.name)", "contentType": "\(fetched.mediaType ?? "-")"])
            throw UpstreamError.invalidResponse("the upstream's answer is not a manifest of a known media type (Content-Type \(fetched.mediaType ?? "none"))")
        }
        let mediaType = summary.mediaType
        let record = ManifestRecord(digest: digest, mediaType: mediaType, size: Int64(fetched.bytes.readableBytes))
        try await cache.blobs.store.put(fetched.bytes, as: digest)
        cache.manifestBytes.put(fetched.bytes, for: digest)
        if let entries = cache.entries {
            let references = summary.requiredBlobDigests + summary.manifests.map(\.digest)
            try await entries.recordCached(digest, size: record.size, references: references, at: now)
        }
        try await cache.index.putManifest(record)
        try await local.admit(digest)
        if let tag {
            try await cache.index.putTag(registryID: upstream.registry.id, repository: repository, tag: tag, CachedTag(digest: digest, checkedAt: now))
        }
        return ManifestContent(record: record, bytes: fetched.bytes)
    }

    static func isDockerSchema1(_ bytes: ByteBuffer, contentType: String?) -> Bool {
        if let contentType, contentType.contains("distribution.manifest.v1") { return true }
        struct Version: Decodable { var schemaVersion: Int? }
        return (try? JSONDecoder().decode(Version.self, from: Data(bytes.readableBytesView)))?.schemaVersion == 1
    }

    /// Whether a cached manifest belongs to this upstream repository, asking upstream when unsure.
    private func isManifestHere(_ digest: Digest) async throws -> Bool {
        if try await local.contains(digest) { return true }
        return (try? await cache.upstream.manifestHead(target, repository: repository, reference: digest.description)) != nil
    }

    // MARK: Blobs

    public func blob(_ digest: Digest) async throws -> BlobContent {
        try await withSpan("cache.lookup") { span in
            span.attributes["portcullis.upstream"] = upstream.registry.name
            span.attributes["portcullis.repository"] = repository
            span.attributes["portcullis.digest"] = digest.description
            let content = try await lookUp(digest)
            switch content {
            case .complete: span.attributes["portcullis.cache"] = "hit"
            case .arriving: span.attributes["portcullis.cache"] = "filling"
            }
            return content
        }
    }

    private func lookUp(_ digest: Digest) async throws -> BlobContent {
        await cache.usage.claim(digest)
        if let reader = try await local.open(digest) {
            count("portcullis_cache_hits_total")
            return .complete(reader)
        }
        return try await mappingUpstreamErrors(notFound: .blobUnknown) {
            let upstreamRegistry = cache.upstream, entries = cache.entries, local = self.local
            let target = self.target, repository = self.repository, name = upstream.registry.name
            let content = try await cache.blobs.content(digest, for: "\(here)", confirm: {
                // Cached or arriving for another repository: confirm this one has it before serving.
                guard try await !local.contains(digest) else { return }
                guard try await upstreamRegistry.blobSize(target, repository: repository, digest: digest) != nil else {
                    throw RegistryError(.blobUnknown, "blob unknown to registry")
                }
                try await local.admit(digest)
            }, fetch: {
                try await upstreamRegistry.blob(target, repository: repository, digest: digest)
            }, completed: { length in
                Counter(label: "portcullis_cache_fill_bytes_total", dimensions: [("upstream", name)]).increment(by: Int64(length))
                try? await entries?.recordCached(digest, size: length, references: [], at: Date())
                try? await local.admit(digest)
            })
            switch content {
            case .complete: count("portcullis_cache_hits_total")
            case .arriving: count("portcullis_cache_misses_total")
            }
            return content
        }
    }

    public func blobSize(_ digest: Digest) async throws -> Int64 {
        if let size = try await local.size(of: digest) { return size }
        return try await mappingUpstreamErrors(notFound: .blobUnknown) {
            guard let size = try await cache.upstream.blobSize(target, repository: repository, digest: digest) else {
                throw RegistryError(.blobUnknown, "blob unknown to registry")
            }
            if let stored = try await cache.blobs.store.size(of: digest) {
                try await local.admit(digest)
                return stored
            }
            return size
        }
    }

    // MARK: Listings

    public func tags() async throws -> [String] {
        try await mappingUpstreamErrors(notFound: .nameUnknown) {
            try await cache.upstream.allTags(target, repository: repository)
        }
    }

    /// The upstream's referrers, filtered here whether or not the upstream filters, so the
    /// answer is the same for every upstream. An upstream without the API has none.
    public func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex {
        try await mappingUpstreamErrors(notFound: .nameUnknown) {
            guard let bytes = try await cache.upstream.referrers(target, repository: repository, digest: digest, artifactType: artifactType) else {
                // An upstream without the referrers API (distribution 2.x, and others) keeps
                // signatures and SBOMs under the `sha256-<hex>` tag instead. Clients (oras,
                // cosign, notation) look there only after a 404: an empty index would tell
                // them there are none.
                throw RegistryError(.manifestUnknown, "the upstream registry has no referrers API; its referrers are under the tag "
                                    + "\(digest.algorithm.rawValue)-\(digest.hex)")
            }
            struct Document: Decodable { var manifests: [ReferrersIndex.Entry]? }
            guard let document = try? JSONDecoder().decode(Document.self, from: Data(bytes.readableBytesView)) else {
                throw UpstreamError.invalidResponse("referrers index is not an image index")
            }
            return ReferrersIndex(entries: document.manifests ?? [], artifactType: artifactType)
        }
    }

    // MARK: Plumbing

    private func count(_ metric: String) {
        Counter(label: metric, dimensions: [("upstream", upstream.registry.name)]).increment()
    }

    private func mappingUpstreamErrors<T>(notFound: RegistryErrorCode, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as UpstreamError {
            throw ProxyFailure(upstream: error, registry: error.registryError(notFound: notFound))
        }
    }
}

/// An upstream failure on its way to the client: what the client is told, and what really
/// happened (for the log and the pull record, never for the client).
public struct ProxyFailure: Error, CustomStringConvertible {
    public var upstream: UpstreamError
    public var registry: RegistryError
    public var description: String { upstream.description }
}
