import Foundation
import Logging
import NIOCore
import OCI
import Storage
import Synchronization
import Testing
@testable import Proxy

/// A blob source the test feeds by hand, so fill states can be observed between chunks.
final class FedSource: Sendable {
    let stream: AsyncThrowingStream<ByteBuffer, any Error>
    let continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation

    init() {
        (stream, continuation) = AsyncThrowingStream.makeStream()
    }
}

@Suite struct BlobCacheTests {
    let logger = Logger(label: "test")

    func makeCache() throws -> (BlobCache, FileBlobStore, String) {
        let dir = NSTemporaryDirectory() + "cache-" + UUID().uuidString
        let store = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        return (BlobCache(store: store, logger: logger), store, dir)
    }

    func readAll(_ fill: BlobFill) async throws -> [UInt8] {
        var out: [UInt8] = []
        var offset: Int64 = 0
        while true {
            switch try await fill.progress(after: offset) {
            case .available(let written):
                out += Array(try await fill.spool.read(at: offset, count: Int(written - offset)).readableBytesView)
                offset = written
            case .complete(let length):
                if offset < length { out += Array(try await fill.spool.read(at: offset, count: Int(length - offset)).readableBytesView) }
                return out
            }
        }
    }

    @Test func concurrentMissesShareOneFetchAndSeeBytesBeforeTheEnd() async throws {
        let (cache, store, dir) = try makeCache()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let part1 = Array(repeating: UInt8(1), count: 100_000), part2 = Array(repeating: UInt8(2), count: 50_000)
        let digest = Digest.of(part1 + part2)
        let source = FedSource()
        let fetches = Atomic<Int>(0)
        let fetch: @Sendable () async throws -> BlobSource = {
            fetches.add(1, ordering: .relaxed)
            return BlobSource(length: Int64(part1.count + part2.count), chunks: source.stream)
        }
        var fills: [BlobFill] = []
        for _ in 0..<8 {
            guard case .filling(let fill) = try await cache.lookup(digest, fetch: fetch, completed: { _ in }) else {
                Issue.record("expected a fill"); return
            }
            fills.append(fill)
        }
        #expect(fills.allSatisfy { $0 === fills[0] })
        source.continuation.yield(ByteBuffer(bytes: part1))
        // Readers get the first part while the upstream has not finished, less the one byte
        // held back until the digest is verified.
        #expect(try await fills[0].progress(after: 0) == .available(written: Int64(part1.count - 1)))
        #expect(try await store.size(of: digest) == nil, "nothing is published before verification")
        source.continuation.yield(ByteBuffer(bytes: part2))
        source.continuation.finish()
        let readers = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for fill in fills { group.addTask { try await self.readAll(fill) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(readers.count == 8 && readers.allSatisfy { $0 == part1 + part2 })
        #expect(fetches.load(ordering: .relaxed) == 1)
        #expect(try await store.size(of: digest) == Int64(part1.count + part2.count))
        guard case .stored = try await cache.lookup(digest, fetch: fetch, completed: { _ in }) else {
            Issue.record("a finished fill must be served from the store"); return
        }
        #expect(fetches.load(ordering: .relaxed) == 1)
    }

    @Test func mismatchedDigestIsNeverPublished() async throws {
        let (cache, store, dir) = try makeCache()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let claimed = Digest.of(Array("what the manifest says".utf8))
        let lookup = try await cache.lookup(claimed, fetch: {
            BlobSource(length: 5, chunks: AsyncThrowingStream { c in c.yield(ByteBuffer(string: "other")); c.finish() })
        }, completed: { _ in Issue.record("must not complete") })
        guard case .filling(let fill) = lookup else { Issue.record("expected a fill"); return }
        await #expect(throws: BlobFillError.self) { try await self.readAll(fill) }
        #expect(try await store.size(of: claimed) == nil)
        try await waitUntil { (try? FileManager.default.contentsOfDirectory(atPath: dir + "/spool").isEmpty) == true }
    }

    @Test func cutOffTransferLeavesNothingAndTheNextFillWorks() async throws {
        let (cache, store, dir) = try makeCache()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Array(repeating: UInt8(7), count: 10_000)
        let digest = Digest.of(bytes)
        struct Cut: Error {}
        let broken = try await cache.lookup(digest, fetch: {
            BlobSource(length: Int64(bytes.count), chunks: AsyncThrowingStream { c in
                c.yield(ByteBuffer(bytes: bytes[0..<4000]))
                c.finish(throwing: Cut())
            })
        }, completed: { _ in })
        guard case .filling(let fill) = broken else { Issue.record("expected a fill"); return }
        await #expect(throws: BlobFillError.self) { try await self.readAll(fill) }
        #expect(try await store.size(of: digest) == nil)

        try await waitUntil { await cache.fillsInFlight == 0 }
        let retry = try await cache.lookup(digest, fetch: {
            BlobSource(length: Int64(bytes.count), chunks: AsyncThrowingStream { c in c.yield(ByteBuffer(bytes: bytes)); c.finish() })
        }, completed: { _ in })
        guard case .filling(let second) = retry else { Issue.record("expected a new fill"); return }
        #expect(try await readAll(second) == bytes)
        #expect(try await store.size(of: digest) == Int64(bytes.count))
    }

    @Test func shortTransferIsRejected() async throws {
        let (cache, store, dir) = try makeCache()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Array("abc".utf8)
        let lookup = try await cache.lookup(Digest.of(bytes), fetch: {
            BlobSource(length: 10, chunks: AsyncThrowingStream { c in c.yield(ByteBuffer(bytes: bytes)); c.finish() })
        }, completed: { _ in })
        guard case .filling(let fill) = lookup else { Issue.record("expected a fill"); return }
        await #expect(throws: BlobFillError.sizeMismatch(expected: 10, actual: 3)) { try await self.readAll(fill) }
        #expect(try await store.size(of: Digest.of(bytes)) == nil)
    }

    @Test func aFillFinishesWithNoReader() async throws {
        let (cache, store, dir) = try makeCache()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Array("nobody is watching".utf8)
        _ = try await cache.lookup(Digest.of(bytes), fetch: {
            BlobSource(length: nil, chunks: AsyncThrowingStream { c in c.yield(ByteBuffer(bytes: bytes)); c.finish() })
        }, completed: { _ in })
        try await waitUntil { (try? await store.size(of: Digest.of(bytes))) == Int64(bytes.count) }
    }
}

/// Polls a condition with a deadline instead of sleeping a fixed time.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within \(timeout)")
}
