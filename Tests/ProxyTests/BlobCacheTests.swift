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

/// A blob source the test feeds by hand, so fill states can be observed between chunks.
final class FedSource: Sendable {
    let stream: AsyncThrowingStream<ByteBuffer, any Error>
    let continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    private let fetches = Atomic<Int>(0)

    init() {
        (stream, continuation) = AsyncThrowingStream.makeStream()
    }

    /// An upstream fetch answering with this source's stream, counted in `fetchCount`.
    func fetch(length: Int64?) -> @Sendable () async throws -> UpstreamBlob {
        { [self] in
            fetches.add(1, ordering: .relaxed)
            return blob(length: length, stream)
        }
    }

    var fetchCount: Int { fetches.load(ordering: .relaxed) }
}

func blob(length: Int64?, _ chunks: AsyncThrowingStream<ByteBuffer, any Error>) -> UpstreamBlob {
    UpstreamBlob(length: length, body: UpstreamBody(chunks))
}

/// A blob cache over a temporary directory, with its fill service running.
struct CacheFixture {
    let cache: BlobCache
    let store: FileBlobStore
    let dir: String
    let service: Task<Void, any Error>

    init() throws {
        dir = NSTemporaryDirectory() + "cache-" + UUID().uuidString
        store = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        let fills = FillService()
        service = Task { try await fills.run() }
        cache = BlobCache(store: store, fills: fills, logger: Logger(label: "test"))
    }

    func close() {
        service.cancel()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite struct BlobCacheTests {
    func readAll(_ content: BlobContent) async throws -> [UInt8] {
        guard case .arriving(let blob) = content else { Issue.record("expected a fill"); return [] }
        var out: [UInt8] = []
        var offset: Int64 = 0
        while true {
            let chunk = try await blob.read(at: offset, maxCount: 1 << 20)
            if chunk.readableBytes == 0 { return out }
            out += Array(chunk.readableBytesView)
            offset += Int64(chunk.readableBytes)
        }
    }

    @Test func concurrentMissesShareOneFetchAndSeeBytesBeforeTheEnd() async throws {
        let f = try CacheFixture()
        defer { f.close() }
        let (cache, store) = (f.cache, f.store)
        let part1 = Array(repeating: UInt8(1), count: 100_000), part2 = Array(repeating: UInt8(2), count: 50_000)
        let digest = Digest.of(part1 + part2)
        let source = FedSource()
        let fetch = source.fetch(length: Int64(part1.count + part2.count))
        var contents: [BlobContent] = []
        for _ in 0..<8 { contents.append(try await cache.content(digest, fetch: fetch, completed: { _ in })) }
        source.continuation.yield(ByteBuffer(bytes: part1))
        // Readers get the first part while the upstream has not finished, less the one byte
        // held back until the digest is verified.
        guard case .arriving(let first) = contents[0] else { Issue.record("expected a fill"); return }
        #expect(try await first.length() == Int64(part1.count + part2.count))
        #expect(try await first.read(at: 0, maxCount: 1 << 20).readableBytes == part1.count - 1)
        #expect(try await store.size(of: digest) == nil, "nothing is published before verification")
        source.continuation.yield(ByteBuffer(bytes: part2))
        source.continuation.finish()
        let readers = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for content in contents { group.addTask { try await self.readAll(content) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(readers.count == 8 && readers.allSatisfy { $0 == part1 + part2 })
        #expect(source.fetchCount == 1)
        // Readers have every byte once it is verified; publishing to the store follows.
        try await waitUntil { try await store.size(of: digest) == Int64(part1.count + part2.count) }
        guard case .complete = try await cache.content(digest, fetch: fetch, completed: { _ in }) else {
            Issue.record("a finished fill must be served from the store"); return
        }
        #expect(source.fetchCount == 1)
    }

    @Test func mismatchedDigestIsNeverPublished() async throws {
        let f = try CacheFixture()
        defer { f.close() }
        let claimed = Digest.of(Array("what the manifest says".utf8))
        let content = try await f.cache.content(claimed, fetch: {
            blob(length: 5, AsyncThrowingStream { c in c.yield(ByteBuffer(string: "other")); c.finish() })
        }, completed: { _ in Issue.record("must not complete") })
        let error = await #expect(throws: RegistryError.self) { try await self.readAll(content) }
        #expect(error?.status == 502 && error?.message == "upstream content failed verification")
        #expect(try await f.store.size(of: claimed) == nil)
        try await waitUntil { (try? FileManager.default.contentsOfDirectory(atPath: f.dir + "/spool").isEmpty) == true }
    }

    @Test func cutOffTransferLeavesNothingAndTheNextFillWorks() async throws {
        let f = try CacheFixture()
        defer { f.close() }
        let bytes = Array(repeating: UInt8(7), count: 10_000)
        let digest = Digest.of(bytes)
        struct Cut: Error {}
        let broken = try await f.cache.content(digest, fetch: {
            blob(length: Int64(bytes.count), AsyncThrowingStream { c in
                c.yield(ByteBuffer(bytes: bytes[0..<4000]))
                c.finish(throwing: Cut())
            })
        }, completed: { _ in })
        await #expect(throws: RegistryError.self) { try await self.readAll(broken) }
        #expect(try await f.store.size(of: digest) == nil)

        try await waitUntil { await f.cache.fillsInFlight == 0 }
        let retry = try await f.cache.content(digest, fetch: {
            blob(length: Int64(bytes.count), AsyncThrowingStream { c in c.yield(ByteBuffer(bytes: bytes)); c.finish() })
        }, completed: { _ in })
        #expect(try await readAll(retry) == bytes)
        try await waitUntil { try await f.store.size(of: digest) == Int64(bytes.count) }
    }

    @Test func shortTransferIsRejected() async throws {
        let f = try CacheFixture()
        defer { f.close() }
        let bytes = Array("abc".utf8)
        let content = try await f.cache.content(Digest.of(bytes), fetch: {
            blob(length: 10, AsyncThrowingStream { c in c.yield(ByteBuffer(bytes: bytes)); c.finish() })
        }, completed: { _ in })
        await #expect(throws: BlobFillError.sizeMismatch(expected: 10, actual: 3).registryError) { try await self.readAll(content) }
        #expect(try await f.store.size(of: Digest.of(bytes)) == nil)
    }

    @Test func aFillFinishesWithNoReader() async throws {
        let f = try CacheFixture()
        defer { f.close() }
        let bytes = Array("nobody is watching".utf8)
        _ = try await f.cache.content(Digest.of(bytes), fetch: {
            blob(length: nil, AsyncThrowingStream { c in c.yield(ByteBuffer(bytes: bytes)); c.finish() })
        }, completed: { _ in })
        try await waitUntil { (try? await f.store.size(of: Digest.of(bytes))) == Int64(bytes.count) }
    }
}

/// Polls a condition with a deadline instead of sleeping a fixed time. The deadline is generous:
/// on two cores the whole suite shares the cooperative pool, and a passing test returns at once.
func waitUntil(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within \(timeout)")
}
