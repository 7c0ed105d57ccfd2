import Foundation
import Logging
import NIOCore
import OCI
import RegistryCore
import Storage
import Synchronization
import Testing
import Upstream
@testable import Proxy

/// Two "replicas" (blob caches with their own spool and fill service) over one blob root and
/// one database holding the fill leases, as replicas over one object store and one database.
struct ReplicaPair {
    let dir: String
    let database: SQLMetadataStore
    let a: BlobCache
    let b: BlobCache
    /// Replica a's leases, to take one as it does before it starts a fill.
    let leasesA: SharedFillLeases
    let peers = DirectPeers()
    let services: [Task<Void, any Error>]

    /// `streaming`: each replica advertises its name as its address and streams the holder's
    /// fill through `DirectPeers` (the hop without the network; the HTTP one is tested end to end).
    init(ttl: TimeInterval = 10, streaming: Bool = false) async throws {
        dir = NSTemporaryDirectory() + "replicas-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        database = try await SQLMetadataStore.openSQLite(path: dir + "/metadata.sqlite", logger: Logger(label: "test"))
        var caches: [BlobCache] = []
        var leaseSets: [SharedFillLeases] = []
        var services: [Task<Void, any Error>] = []
        let peers = self.peers
        for name in ["a", "b"] {
            let fills = FillService()
            services.append(Task { try await fills.run() })
            let leases = SharedFillLeases(store: database, holder: "replica-\(name)", address: streaming ? name : nil, ttl: ttl,
                                          pollInterval: .milliseconds(50), logger: Logger(label: "test"))
            leaseSets.append(leases)
            caches.append(BlobCache(store: try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool-\(name)"), fills: fills,
                                    leases: leases, peers: streaming ? peers : nil, logger: Logger(label: "test")))
        }
        (a, b) = (caches[0], caches[1])
        leasesA = leaseSets[0]
        peers.replicas.withLock { $0 = ["a": caches[0], "b": caches[1]] }
        self.services = services
    }

    func close() async {
        for service in services { service.cancel() }
        try? await database.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Replicas reaching each other's running fills in process: what the HTTP route sends, read
/// from the holder's fill as a follower there reads it.
final class DirectPeers: PeerFills {
    let replicas = Mutex<[String: BlobCache]>([:])
    let asked = Atomic<Int>(0)
    let opened = Atomic<Int>(0)

    func open(_ digest: Digest, from peer: String) async -> UpstreamBlob? {
        asked.add(1, ordering: .relaxed)
        // As the HTTP route waits (`PeerFillRoutes`).
        guard let cache = replicas.withLock({ $0[peer] }), let fill = await cache.runningFill(digest, patience: .seconds(1)) else { return nil }
        opened.add(1, ordering: .relaxed)
        let length = try? await fill.length()
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        Task {
            var offset: Int64 = 0
            do {
                while true {
                    let chunk = try await fill.read(at: offset, maxCount: 64 << 10)
                    if chunk.readableBytes == 0 { break }
                    offset += Int64(chunk.readableBytes)
                    continuation.yield(chunk)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return UpstreamBlob(length: length ?? nil, body: UpstreamBody(stream))
    }
}

@Suite struct SharedFillTests {
    static func drain(_ content: BlobContent) async throws -> [UInt8] {
        var out: [UInt8] = []
        var offset: Int64 = 0
        while true {
            let chunk: ByteBuffer
            switch content {
            case .arriving(let blob): chunk = try await blob.read(at: offset, maxCount: 1 << 20)
            case .complete(let reader): chunk = try await reader.read(at: offset, maxCount: 1 << 20)
            }
            if chunk.readableBytes == 0 { return out }
            out += Array(chunk.readableBytesView)
            offset += Int64(chunk.readableBytes)
        }
    }

    @Test func aSecondReplicaWaitsForTheFirstAndServesWhatItPublished() async throws {
        let pair = try await ReplicaPair()
        let bytes = Array(repeating: UInt8(7), count: 300_000)
        let digest = Digest.of(bytes)
        let source = FedSource()
        let fetch = source.fetch(length: Int64(bytes.count))
        let first = try await pair.a.content(digest, fetch: fetch, completed: { _ in })
        guard case .arriving = first else { Issue.record("the first replica must fill"); return }
        let second = Task { try await pair.b.content(digest, fetch: fetch, completed: { _ in }) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(source.fetchCount == 1, "the second replica must not fetch while the first holds the lease")
        source.continuation.yield(ByteBuffer(bytes: bytes))
        source.continuation.finish()
        #expect(try await Self.drain(first) == bytes)
        let served = try await second.value
        guard case .complete = served else { Issue.record("the waiting replica serves the published blob"); return }
        #expect(try await Self.drain(served) == bytes)
        #expect(source.fetchCount == 1)
        await pair.close()
    }

    @Test func aDeadHoldersLeaseRunsOutAndIsTakenOver() async throws {
        let pair = try await ReplicaPair()
        let bytes = Array("taken over".utf8)
        let digest = Digest.of(bytes)
        // A replica that took the lease and died: nobody renews it.
        let expiry = Date().addingTimeInterval(0.6)
        #expect(try await pair.database.acquireFillLease(digest, holder: "dead", until: expiry, now: Date()))
        let fetches = Atomic<Int>(0)
        let fetchedAt = Mutex<Date?>(nil)
        let content = try await pair.b.content(digest, fetch: {
            fetches.add(1, ordering: .relaxed)
            fetchedAt.withLock { $0 = Date() }
            return blob(length: Int64(bytes.count), AsyncThrowingStream { $0.yield(ByteBuffer(bytes: bytes)); $0.finish() })
        }, completed: { _ in })
        #expect(try await Self.drain(content) == bytes)
        let fetched = fetchedAt.withLock { $0 } ?? .distantPast
        #expect(fetched >= expiry, "the lease was honoured until it expired")
        #expect(fetches.load(ordering: .relaxed) == 1)
        await pair.close()
    }

    @Test func aRunningFillRenewsItsLease() async throws {
        let pair = try await ReplicaPair(ttl: 0.6)
        let bytes = Array(repeating: UInt8(3), count: 1000)
        let digest = Digest.of(bytes)
        let source = FedSource()
        let first = try await pair.a.content(digest, fetch: { blob(length: Int64(bytes.count), source.stream) }, completed: { _ in })
        // Three lease lifetimes later the first replica is still filling, and still holds it.
        try await Task.sleep(for: .milliseconds(1800))
        #expect(try await !pair.database.acquireFillLease(digest, holder: "someone-else", until: Date().addingTimeInterval(5), now: Date()))
        source.continuation.yield(ByteBuffer(bytes: bytes))
        source.continuation.finish()
        #expect(try await Self.drain(first) == bytes)
        await pair.close()
    }

    @Test func joiningAFillForAnotherPlaceNeedsConfirmation() async throws {
        let f = try CacheFixture()
        defer { f.close() }
        let bytes = Array("private layer".utf8)
        let digest = Digest.of(bytes)
        let source = FedSource()
        _ = try await f.cache.content(digest, for: "upstream-a", fetch: { blob(length: Int64(bytes.count), source.stream) }, completed: { _ in })
        struct NotThere: Error {}
        await #expect(throws: NotThere.self) {
            try await f.cache.content(digest, for: "upstream-b", confirm: { throw NotThere() }, fetch: { throw NotThere() }, completed: { _ in })
        }
        let confirmed = Atomic<Int>(0)
        _ = try await f.cache.content(digest, for: "upstream-a", confirm: { confirmed.add(1, ordering: .relaxed) },
                                      fetch: { throw NotThere() }, completed: { _ in })
        #expect(confirmed.load(ordering: .relaxed) == 0, "the place that started the fill joins it without asking")
        source.continuation.yield(ByteBuffer(bytes: bytes))
        source.continuation.finish()
    }

    // MARK: Streaming the holder's fill

    /// Reads until at least `count` bytes have come (the first bytes of a fill still arriving).
    static func readPrefix(_ content: BlobContent, count: Int) async throws -> [UInt8] {
        guard case .arriving(let blob) = content else { return [] }
        var out: [UInt8] = []
        while out.count < count {
            let chunk = try await blob.read(at: Int64(out.count), maxCount: count - out.count)
            if chunk.readableBytes == 0 { break }
            out += Array(chunk.readableBytesView)
        }
        return out
    }

    @Test func aSecondReplicaStreamsTheHoldersFillWhileItArrives() async throws {
        let pair = try await ReplicaPair(streaming: true)
        let bytes = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let digest = Digest.of(bytes)
        let source = FedSource()
        let fetch = source.fetch(length: Int64(bytes.count))
        let first = try await pair.a.content(digest, fetch: fetch, completed: { _ in })
        source.continuation.yield(ByteBuffer(bytes: bytes[..<(1 << 20)]))
        // The second replica answers while the first is still fetching, and its reader gets the
        // bytes that have arrived there so far.
        let second = try await pair.b.content(digest, fetch: fetch, completed: { _ in })
        guard case .arriving = second else { Issue.record("the second replica streams the fill"); return }
        // (Spooled in 1 MiB batches there too, the first chunk at once, less the byte held back
        // at the end of what has arrived: 32 KiB is well inside the peer's first 64 KiB chunk.)
        #expect(try await Self.readPrefix(second, count: 32 << 10) == Array(bytes[..<(32 << 10)]))
        #expect(try await pair.a.store.size(of: digest) == nil, "nothing is published before the fill completes")
        // A second request there joins the same stream rather than asking the peer again.
        let third = try await pair.b.content(digest, fetch: fetch, completed: { _ in })
        source.continuation.yield(ByteBuffer(bytes: bytes[(1 << 20)...]))
        source.continuation.finish()
        #expect(try await Self.drain(first) == bytes)
        #expect(try await Self.drain(second) == bytes)
        #expect(try await Self.drain(third) == bytes)
        #expect(source.fetchCount == 1)
        #expect(try await pair.a.store.size(of: digest) == Int64(bytes.count))
        // Only the holder wrote a spool that became the blob; the streaming replica's is gone.
        let spoolB = (try? FileManager.default.contentsOfDirectory(atPath: pair.dir + "/spool-b")) ?? []
        #expect(spoolB.isEmpty, "left in the streaming replica's spool: \(spoolB)")
        await pair.close()
    }

    @Test func aReplicaAskingBeforeTheHoldersFillStartsIsAnsweredOnceItStarts() async throws {
        let pair = try await ReplicaPair(streaming: true)
        let bytes = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let digest = Digest.of(bytes)
        let source = FedSource()
        let fetch = source.fetch(length: Int64(bytes.count))
        // Replica a has taken the lease and is still looking in the object store: no fill yet.
        #expect(try await pair.leasesA.claim(digest) == .held)
        let asking = Task { try await pair.b.content(digest, fetch: fetch, completed: { _ in }) }
        while pair.peers.asked.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(await pair.a.runningFill(digest) == nil)
        let first = try await pair.a.content(digest, fetch: fetch, completed: { _ in })
        source.continuation.yield(ByteBuffer(bytes: bytes[..<(1 << 20)]))
        // Replica b streams a's fill from the one question it asked, while the bytes arrive.
        let second = try await asking.value
        guard case .arriving = second else { Issue.record("the second replica streams the fill"); return }
        #expect(pair.peers.asked.load(ordering: .relaxed) == 1, "asked again instead of being answered")
        #expect(pair.peers.opened.load(ordering: .relaxed) == 1)
        source.continuation.yield(ByteBuffer(bytes: bytes[(1 << 20)...]))
        source.continuation.finish()
        #expect(try await Self.drain(first) == bytes)
        #expect(try await Self.drain(second) == bytes)
        #expect(source.fetchCount == 1)
        await pair.close()
    }

    @Test func aHolderWithNoFillAndNoLeaseAnswersAtOnce() async throws {
        let pair = try await ReplicaPair(streaming: true)
        let digest = Digest.of(Array("never fetched".utf8))
        let started = ContinuousClock.now
        #expect(await pair.a.runningFill(digest, patience: .seconds(5)) == nil)
        #expect(ContinuousClock.now - started < .seconds(2), "waited without holding the lease")
        // A lease let go ends the wait too.
        #expect(try await pair.leasesA.claim(digest) == .held)
        let waiting = Task { await pair.a.runningFill(digest, patience: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        await pair.leasesA.release(digest)
        #expect(await waiting.value == nil)
        #expect(ContinuousClock.now - started < .seconds(4), "waited past the release")
        await pair.close()
    }

    @Test func theStreamingReplicaRefusesContentThatFailsVerification() async throws {
        let pair = try await ReplicaPair(streaming: true)
        let bytes = Array(repeating: UInt8(9), count: 2 << 20)
        let digest = Digest.of(Array("what the manifest promised".utf8))
        let source = FedSource()
        let first = try await pair.a.content(digest, fetch: { blob(length: Int64(bytes.count), source.stream) }, completed: { _ in })
        source.continuation.yield(ByteBuffer(bytes: bytes[..<(1 << 20)]))
        let second = try await pair.b.content(digest, fetch: { throw CancellationError() }, completed: { _ in })
        source.continuation.yield(ByteBuffer(bytes: bytes[(1 << 20)...]))
        source.continuation.finish()
        for content in [first, second] {
            await #expect(throws: (any Error).self) { _ = try await Self.drain(content) }
        }
        #expect(try await pair.a.store.size(of: digest) == nil)
        await pair.close()
    }

    @Test func aPlaceTheHolderDidNotFetchForIsConfirmedBeforeStreaming() async throws {
        let pair = try await ReplicaPair(streaming: true)
        let bytes = Array("someone else's layer".utf8)
        let digest = Digest.of(bytes)
        let source = FedSource()
        _ = try await pair.a.content(digest, for: "up/a", fetch: { blob(length: Int64(bytes.count), source.stream) }, completed: { _ in })
        struct NotThere: Error {}
        await #expect(throws: NotThere.self) {
            try await pair.b.content(digest, for: "up/b", confirm: { throw NotThere() }, fetch: { throw NotThere() }, completed: { _ in })
        }
        #expect(pair.peers.opened.load(ordering: .relaxed) == 0, "the holder's fill was opened for an unconfirmed place")
        source.continuation.yield(ByteBuffer(bytes: bytes))
        source.continuation.finish()
        await pair.close()
    }
}
