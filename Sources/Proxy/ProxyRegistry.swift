import Foundation
import Logging
import Metrics
import NIOCore
import OCI
import Storage
import Upstream

public struct ProxyPolicy: Sendable {
    /// How long a tag is served from cache before it is re-checked upstream.
    public var tagTTL: TimeInterval
    /// How long past its TTL a tag may still be served while the upstream is failing.
    public var staleLimit: TimeInterval
    /// Largest manifest accepted from an upstream.
    public var manifestLimit: Int

    public init(tagTTL: TimeInterval = 60, staleLimit: TimeInterval = 24 * 3600, manifestLimit: Int = 4 << 20) {
        self.tagTTL = tagTTL
        self.staleLimit = staleLimit
        self.manifestLimit = manifestLimit
    }
}

/// A manifest ready to serve. `bytes` is nil when only the head was needed.
public struct ServedManifest: Sendable {
    public var record: ManifestRecord
    public var bytes: ByteBuffer?
    /// True when the upstream failed and a cached answer past its TTL was used.
    public var stale: Bool
}

/// Read access to upstream registries through the cache. Handlers call this and never
/// learn whether content came from disk or from the upstream.
public struct ProxyRegistry: Sendable {
    let index: any ProxyIndex
    public let blobs: BlobCache
    let upstream: UpstreamClient
    let policy: ProxyPolicy
    let logger: Logger

    public init(index: any ProxyIndex, blobs: BlobCache, upstream: UpstreamClient, policy: ProxyPolicy, logger: Logger) {
        self.index = index
        self.blobs = blobs
        self.upstream = upstream
        self.policy = policy
        self.logger = logger
    }

    // MARK: Manifests

    public func manifest(_ up: ResolvedUpstream, _ reference: ManifestReference, wantBody: Bool, now: Date = Date()) async throws -> ServedManifest {
        switch reference {
        case .digest(let digest):
            if let record = try await index.manifest(digest),
               try await isManifestInRepository(up, digest),
               let served = try await load(record, wantBody: wantBody, stale: false) {
                try await index.link(registryID: up.registry.id, repository: up.repository, digest: digest)
                count("portcullis_cache_hits_total", up)
                return served
            }
            count("portcullis_cache_misses_total", up)
            return try await fetchManifest(up, reference: digest.description, expected: digest, tag: nil, now: now)

        case .tag(let tag):
            let cached = try await index.tag(registryID: up.registry.id, repository: up.repository, tag: tag)
            var cachedRecord: ManifestRecord?
            if let cached { cachedRecord = try await index.manifest(cached.digest) }
            if let cached, let cachedRecord, now.timeIntervalSince(cached.checkedAt) < policy.tagTTL,
               let served = try await load(cachedRecord, wantBody: wantBody, stale: false) {
                count("portcullis_cache_hits_total", up)
                return served
            }
            do {
                if let cached, let cachedRecord {
                    let head = try await upstream.headManifest(up.target, repository: up.repository, reference: tag)
                    if head.digest == cached.digest, let served = try await load(cachedRecord, wantBody: wantBody, stale: false) {
                        try await index.putTag(registryID: up.registry.id, repository: up.repository, tag: tag,
                                               CachedTag(digest: cached.digest, checkedAt: now))
                        count("portcullis_cache_hits_total", up)
                        return served
                    }
                }
                count("portcullis_cache_misses_total", up)
                return try await fetchManifest(up, reference: tag, expected: nil, tag: tag, now: now)
            } catch let error as UpstreamError where error.isOutage {
                if let cached, let cachedRecord, now.timeIntervalSince(cached.checkedAt) < policy.tagTTL + policy.staleLimit,
                   let served = try await load(cachedRecord, wantBody: wantBody, stale: true) {
                    count("portcullis_stale_serves_total", up)
                    logger.warning("serving cached tag while upstream fails", metadata: [
                        "registry": "\(up.registry.name)", "repository": "\(up.repository)", "tag": "\(tag)", "error": "\(error)"])
                    return served
                }
                throw error
            }
        }
    }

    private func load(_ record: ManifestRecord, wantBody: Bool, stale: Bool) async throws -> ServedManifest? {
        guard wantBody else {
            return try await blobs.store.size(of: record.digest) != nil ? ServedManifest(record: record, bytes: nil, stale: stale) : nil
        }
        guard let bytes = try await blobs.store.readAll(record.digest, limit: policy.manifestLimit) else { return nil }
        return ServedManifest(record: record, bytes: bytes, stale: stale)
    }

    private func fetchManifest(_ up: ResolvedUpstream, reference: String, expected: Digest?, tag: String?, now: Date) async throws -> ServedManifest {
        let fetched = try await upstream.getManifest(up.target, repository: up.repository, reference: reference, limit: policy.manifestLimit)
        let digest = fetched.bytes.withUnsafeReadableBytes { ptr in
            var hasher = DigestHasher()
            hasher.update(ptr)
            return hasher.finalize()
        }
        if let expected, expected != digest {
            logger.error("upstream manifest does not match its digest", metadata: ["expected": "\(expected)", "actual": "\(digest)"])
            throw UpstreamError.invalidResponse("manifest content does not match digest \(expected)")
        }
        if let header = fetched.digestHeader, header != digest {
            logger.error("upstream manifest does not match Docker-Content-Digest", metadata: ["header": "\(header)", "actual": "\(digest)"])
            throw UpstreamError.invalidResponse("manifest content does not match the digest the upstream declared")
        }
        let mediaType = (try? ManifestSummary(parsing: fetched.bytes.readableBytesView, contentType: fetched.mediaType))?.mediaType
            ?? fetched.mediaType ?? ManifestMediaType.ociManifest
        let record = ManifestRecord(digest: digest, mediaType: mediaType, size: Int64(fetched.bytes.readableBytes))
        try await blobs.store.put(fetched.bytes, as: digest)
        try await index.putManifest(record)
        try await index.link(registryID: up.registry.id, repository: up.repository, digest: digest)
        if let tag {
            try await index.putTag(registryID: up.registry.id, repository: up.repository, tag: tag, CachedTag(digest: digest, checkedAt: now))
        }
        return ServedManifest(record: record, bytes: fetched.bytes, stale: false)
    }

    // MARK: Blobs

    /// The blob from cache, or a fill from upstream that the caller can stream while it runs.
    public func blob(_ up: ResolvedUpstream, _ digest: Digest) async throws -> BlobCache.Lookup {
        if try await blobs.store.size(of: digest) != nil {
            if try await isLinked(up, digest) == false {
                // Cached for another repository: confirm this one has it before serving.
                guard try await upstream.headBlob(up.target, repository: up.repository, digest: digest) != nil else {
                    throw RegistryError(.blobUnknown, "blob unknown to registry")
                }
                try await index.link(registryID: up.registry.id, repository: up.repository, digest: digest)
            }
        }
        let upstream = self.upstream
        let index = self.index
        let lookup = try await blobs.lookup(digest, fetch: {
            let (length, body) = try await upstream.getBlob(up.target, repository: up.repository, digest: digest)
            return BlobSource(length: length, chunks: body)
        }, completed: { length in
            Counter(label: "portcullis_cache_fill_bytes_total", dimensions: [("upstream", up.registry.name)]).increment(by: Int64(length))
            try? await index.link(registryID: up.registry.id, repository: up.repository, digest: digest)
        })
        switch lookup {
        case .stored: count("portcullis_cache_hits_total", up)
        case .filling: count("portcullis_cache_misses_total", up)
        }
        return lookup
    }

    private func count(_ metric: String, _ up: ResolvedUpstream) {
        Counter(label: metric, dimensions: [("upstream", up.registry.name)]).increment()
    }

    /// Whether a cached manifest belongs to this upstream repository, asking upstream when unsure.
    private func isManifestInRepository(_ up: ResolvedUpstream, _ digest: Digest) async throws -> Bool {
        if try await isLinked(up, digest) { return true }
        return (try? await upstream.headManifest(up.target, repository: up.repository, reference: digest.description)) != nil
    }

    /// The size of a blob for HEAD, without starting a fill.
    public func blobSize(_ up: ResolvedUpstream, _ digest: Digest) async throws -> Int64 {
        if let size = try await blobs.store.size(of: digest), try await isLinked(up, digest) { return size }
        guard let size = try await upstream.headBlob(up.target, repository: up.repository, digest: digest) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
        if let stored = try await blobs.store.size(of: digest) {
            try await index.link(registryID: up.registry.id, repository: up.repository, digest: digest)
            return stored
        }
        guard size >= 0 else { throw UpstreamError.invalidResponse("blob HEAD without Content-Length") }
        return size
    }

    private func isLinked(_ up: ResolvedUpstream, _ digest: Digest) async throws -> Bool {
        try await index.isLinked(registryID: up.registry.id, repository: up.repository, digest: digest)
    }

    // MARK: Listings

    /// Every tag of the upstream repository, following the upstream's own pagination.
    /// Sorting and paging for the client happen here, not upstream: registries differ in
    /// whether they honour `n` and in the order they return.
    public func tags(_ up: ResolvedUpstream, maxPages: Int = 50) async throws -> [String] {
        struct TagList: Decodable { var tags: [String]? }
        var all: [String] = []
        var query: [(String, String)] = []
        for _ in 0..<maxPages {
            let doc = try await upstream.getDocument(up.target, repository: up.repository, path: "tags/list", query: query)
            guard let list = try? JSONDecoder().decode(TagList.self, from: Data(doc.bytes.readableBytesView)) else {
                throw UpstreamError.invalidResponse("tag list is not JSON")
            }
            all += list.tags ?? []
            guard let link = doc.link, let next = Self.nextQuery(fromLink: link) else { break }
            query = next
        }
        return all
    }

    /// The query of a `Link: <…?n=…&last=…>; rel="next"` header.
    static func nextQuery(fromLink link: String) -> [(String, String)]? {
        guard link.contains("rel=\"next\""), let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">"),
              open < close, let components = URLComponents(string: String(link[link.index(after: open)..<close])) else { return nil }
        let items = (components.queryItems ?? []).compactMap { item in item.value.map { (item.name, $0) } }
        return items.isEmpty ? nil : items
    }

    /// The referrers index, or nil when the upstream has none (the caller answers with an empty index).
    public func referrers(_ up: ResolvedUpstream, _ digest: Digest, artifactType: String?) async throws -> ByteBuffer? {
        var query: [(String, String)] = []
        if let artifactType { query.append(("artifactType", artifactType)) }
        do {
            let doc = try await upstream.getDocument(up.target, repository: up.repository, path: "referrers/\(digest)",
                                                     query: query, accept: ManifestMediaType.ociIndex)
            return doc.bytes
        } catch UpstreamError.notFound {
            return nil
        }
    }
}
