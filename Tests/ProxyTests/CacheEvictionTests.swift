import Foundation
import Logging
import NIOCore
import OCI
import Storage
import Testing
@testable import Proxy

@Suite struct EvictionPlanTests {
    func content(_ name: String, _ size: Int64, pulled minutesAgo: Double) -> CachedContent {
        CachedContent(digest: Digest.of(Array(name.utf8)), size: size, lastPulledAt: Date(timeIntervalSince1970: 1_000_000 - minutesAgo * 60))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var excess: Int64
        var busy: [String]
        var expected: [String]
        var testDescription: String { "excess \(excess), busy \(busy) -> \(expected)" }
    }

    // Over: old 100 bytes (pulled 30 min ago), mid 200 (20 min), new 300 (10 min).
    static let cases: [Case] = [
        Case(excess: 0, busy: [], expected: []),
        Case(excess: 1, busy: [], expected: ["old"]),
        Case(excess: 100, busy: [], expected: ["old"]),
        Case(excess: 101, busy: [], expected: ["old", "mid"]),
        Case(excess: 250, busy: ["old"], expected: ["mid", "new"]),
        Case(excess: 1000, busy: [], expected: ["old", "mid", "new"]),
        Case(excess: 50, busy: ["old", "mid", "new"], expected: []),
    ]

    @Test(arguments: cases)
    func leastRecentlyPulledFirstSkippingBusy(_ c: Case) {
        let (excess, busy, expected) = (c.excess, c.busy, c.expected)
        let all = [content("new", 300, pulled: 10), content("old", 100, pulled: 30), content("mid", 200, pulled: 20)]
        let busyDigests = Set(busy.map { Digest.of(Array($0.utf8)) })
        let chosen = EvictionPlan.select(all, excess: excess, isBusy: busyDigests.contains)
        #expect(chosen.map(\.digest) == expected.map { Digest.of(Array($0.utf8)) })
    }

    @Test func targetIsATenthBelowTheLimit() {
        #expect(EvictionPlan.target(for: 1000) == 900)
    }
}

@Suite struct CacheLimitTests {
    static let sizes: [(String, CacheLimit)] = [
        ("50GiB", .bytes(50 << 30)), ("500MB", .bytes(500_000_000)), ("1048576", .bytes(1_048_576)), ("2 MiB", .bytes(2 << 20)),
        ("1.5G", .bytes(Int64(1.5 * Double(1 << 30)))), ("80%", .percentOfDisk(80)), ("12k", .bytes(12 << 10)),
    ]

    @Test(arguments: sizes)
    func sizesAndPercentagesParse(text: String, expected: CacheLimit) throws {
        #expect(try CacheLimit(parsing: text) == expected)
    }

    @Test(arguments: ["", "GiB", "-5GiB", "0", "0%", "120%", "ten gigs", "5XB"])
    func nonsenseIsRefusedWithTheReason(text: String) {
        #expect(throws: CacheLimit.Invalid.self) { try CacheLimit(parsing: text) }
    }

    @Test func aPercentageIsAShareOfTheDiskAndNeedsALocalDirectory() throws {
        let half = try CacheLimit.percentOfDisk(50).bytes(directory: NSTemporaryDirectory())
        let whole = try CacheLimit.percentOfDisk(100).bytes(directory: NSTemporaryDirectory())
        #expect(half > 0 && abs(whole - 2 * half) <= 2)
        #expect(throws: CacheLimit.Invalid.self) { try CacheLimit.percentOfDisk(50).bytes(directory: nil) }
    }
}

/// Real SQLite and blob directory; the evictor deletes what it chooses.
@Suite struct CacheEvictorTests {
    struct Env {
        let dir: String
        let store: SQLMetadataStore
        let blobs: FileBlobStore
        let cache: BlobCache
        let usage = CacheUsage()

        static func make() async throws -> Env {
            let dir = NSTemporaryDirectory() + "evict-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: Logger(label: "t"))
            let blobs = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
            return Env(dir: dir, store: store, blobs: blobs, cache: BlobCache(store: blobs, fills: FillService(), logger: Logger(label: "t")))
        }

        func evictor(limit: Int64) -> CacheEvictor {
            CacheEvictor(entries: store, blobs: cache, usage: usage, limit: limit, interval: .seconds(3600), logger: Logger(label: "t"))
        }

        /// Stores `size` bytes as proxied content pulled `minutesAgo` minutes ago.
        func cached(_ name: String, size: Int, minutesAgo: Double, references: [Digest] = []) async throws -> Digest {
            let bytes = Array(repeating: UInt8(ascii: "a"), count: size - name.utf8.count) + Array(name.utf8)
            let digest = Digest.of(bytes)
            try await blobs.put(ByteBuffer(bytes: bytes), as: digest)
            try await store.recordCached(digest, size: Int64(size), references: references, at: Date().addingTimeInterval(-minutesAgo * 60))
            try await store.makeVisible(digest, in: .upstream(registryID: "r1", repository: "library/app"))
            return digest
        }

        func close() async throws {
            try await store.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    @Test func aManifestsBlobsStayUntilTheManifestGoesAndTheCacheSettlesBelowTheTarget() async throws {
        let env = try await Env.make()
        let layer1 = try await env.cached("layer1", size: 1000, minutesAgo: 50)
        let layer2 = try await env.cached("layer2", size: 1000, minutesAgo: 50)
        let manifest = try await env.cached("manifest", size: 100, minutesAgo: 5, references: [layer1, layer2])
        let stray = try await env.cached("stray", size: 1000, minutesAgo: 30)
        #expect(try await env.store.cachedTotalSize() == 3100)

        // Over 2500 the target is 2250: the stray blob (older than the manifest) is enough.
        var (count, freed) = try await env.evictor(limit: 2500).evict(toFit: 2500)
        #expect(count == 1 && freed == 1000)
        #expect(try await env.blobs.size(of: stray) == nil)
        #expect(try await env.blobs.size(of: layer1) == 1000, "older, but a cached manifest references it")

        // Down to 900: the manifest goes first, then its layers are ordinary candidates.
        (count, freed) = try await env.evictor(limit: 1000).evict(toFit: 1000)
        #expect(count == 3 && freed == 2100)
        for digest in [manifest, layer1, layer2] { #expect(try await env.blobs.size(of: digest) == nil) }
        #expect(try await env.store.cachedTotalSize() == 0)
        try await env.close()
    }

    @Test func contentBeingServedOrHeldByAVendorRepositoryKeepsItsBytes() async throws {
        let env = try await Env.make()
        let served = try await env.cached("served", size: 1000, minutesAgo: 60)
        let hosted = try await env.cached("hosted", size: 1000, minutesAgo: 50)
        try await env.store.makeVisible(hosted, in: .hosted(repository: "acme/api"))
        let fresh = try await env.cached("fresh", size: 1000, minutesAgo: 1)
        let evictor = env.evictor(limit: 1500)
        await env.usage.claim(fresh)
        let (count, freed) = try await env.usage.serving(served) {
            // Pulled a moment ago: in use until two recency batches have been written.
            #expect(try await evictor.evict(toFit: 1500) == (1, 0), "only the hosted one leaves the cache, keeping its bytes")
            _ = env.usage.takePulled()
            _ = env.usage.takePulled()
            return try await evictor.evict(toFit: 1500)
        }
        #expect(try await env.blobs.size(of: served) == 1000, "being served")
        #expect(try await env.blobs.size(of: hosted) == 1000, "vendor data is never cache")
        #expect(try await env.store.isVisible(hosted, in: .hosted(repository: "acme/api")))
        #expect(count == 1 && freed == 1000, "then the fresh one went")
        #expect(try await env.blobs.size(of: fresh) == nil)
        // Once it is no longer served it is the oldest candidate.
        #expect(try await evictor.evict(toFit: 500).count == 1)
        #expect(try await env.blobs.size(of: served) == nil)
        try await env.close()
    }

    @Test func pullRecencyIsWrittenInBatchesAndDecidesTheOrder() async throws {
        let env = try await Env.make()
        let a = try await env.cached("a", size: 1000, minutesAgo: 60)
        let b = try await env.cached("b", size: 1000, minutesAgo: 30)
        await env.usage.claim(a)
        await env.usage.claim(a)
        let pulled = env.usage.takePulled()
        #expect(pulled == [a], "one entry however many pulls")
        #expect(env.usage.takePulled().isEmpty, "and a batch later it is no longer in use")
        try await env.store.touchCached(pulled, at: Date())
        _ = try await env.evictor(limit: 1500).evict(toFit: 1500)
        #expect(try await env.blobs.size(of: b) == nil, "b is now the least recently pulled")
        #expect(try await env.blobs.size(of: a) == 1000)
        try await env.close()
    }

    @Test func contentCachedByAnOlderVersionIsAdoptedWithItsReferences() async throws {
        let env = try await Env.make()
        let layer = Array(repeating: UInt8(ascii: "l"), count: 3000), layerDigest = Digest.of(Array(repeating: UInt8(ascii: "l"), count: 3000))
        let manifest = Array("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(layerDigest)","size":3000},"layers":[]}
            """.utf8)
        // As an older version left them: bytes and upstream links, no entries.
        for bytes in [layer, manifest] {
            try await env.blobs.put(ByteBuffer(bytes: bytes), as: Digest.of(bytes))
            try await env.store.makeVisible(Digest.of(bytes), in: .upstream(registryID: "r1", repository: "library/app"))
        }
        try await env.store.makeVisible(Digest.of(Array("gone".utf8)), in: .upstream(registryID: "r1", repository: "library/app"))
        #expect(try await env.store.cachedTotalSize() == 0)
        await env.evictor(limit: 1 << 30).adoptUntracked()
        #expect(try await env.store.cachedTotalSize() == Int64(layer.count + manifest.count))
        #expect(try await env.store.evictionCandidates(limit: 10).map(\.digest) == [Digest.of(manifest)], "the layer waits for its manifest")
        #expect(try await env.store.untrackedCachedDigests(limit: 10) == [Digest.of(Array("gone".utf8))], "bytes that are gone get no entry")
        try await env.close()
    }
}
