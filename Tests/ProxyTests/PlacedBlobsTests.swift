import Foundation
import NIOCore
import OCI
import RegistryCore
import Storage
import Synchronization
import Testing

/// Where each blob was shown to belong, in memory, counting the questions (the database's reads).
final class CountedVisibility: BlobVisibilityIndex {
    private let visible = Mutex<Set<String>>([])
    let questions = Atomic<Int>(0)

    private func key(_ digest: Digest, _ place: BlobVisibility) -> String { "\(place) \(digest)" }

    func isVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        questions.add(1, ordering: .relaxed)
        return visible.withLock { $0.contains(key(digest, visibility)) }
    }

    func makeVisible(_ digest: Digest, in visibility: BlobVisibility) async throws {
        _ = visible.withLock { $0.insert(key(digest, visibility)) }
    }

    func renewVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        try await isVisible(digest, in: visibility)
    }

    func hide(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        visible.withLock { $0.remove(key(digest, visibility)) != nil }
    }
}

@Suite struct PlacedBlobsTests {
    static func store() throws -> (FileBlobStore, String) {
        let dir = NSTemporaryDirectory() + "placed-" + UUID().uuidString
        return (try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool"), dir)
    }

    @Test func onALocalStoreABlobThatIsNotStoredNeedsNoDatabaseRead() async throws {
        let (store, dir) = try Self.store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let visibility = CountedVisibility()
        let digest = Digest.of(Array("not fetched yet".utf8))
        let here = BlobVisibility.hosted(repository: "app/here")
        try await visibility.makeVisible(digest, in: here)
        #expect(try await PlacedBlobs(store: store, visibility: visibility, place: here).open(digest) == nil)
        #expect(visibility.questions.load(ordering: .relaxed) == 0)
    }

    @Test func aStoredBlobIsReadOnlyWhereItWasShownToBelong() async throws {
        let (store, dir) = try Self.store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let visibility = CountedVisibility()
        let bytes = Array("stored once, shared by every app".utf8)
        let digest = Digest.of(bytes)
        try await store.put(ByteBuffer(bytes: bytes), as: digest)
        let here = BlobVisibility.hosted(repository: "app/here"), elsewhere = BlobVisibility.hosted(repository: "other/there")
        try await visibility.makeVisible(digest, in: here)
        let reader = try #require(try await PlacedBlobs(store: store, visibility: visibility, place: here).open(digest))
        #expect(reader.length == Int64(bytes.count))
        #expect(try await PlacedBlobs(store: store, visibility: visibility, place: elsewhere).open(digest) == nil)
        #expect(visibility.questions.load(ordering: .relaxed) == 2)
    }
}
