import NIOCore
import OCI
import Storage

/// The shared blob store as one place sees it: a vendor repository, an upstream repository, or
/// a chart delivered to one recipient. A blob is there only once it has been shown to belong
/// there; having the bytes is never enough, since every app shares the store. Every kind of
/// repository reads its local blobs through this, so that rule is written once.
public struct PlacedBlobs: Sendable {
    public let store: any BlobStore
    public let visibility: any BlobVisibilityIndex
    public let place: BlobVisibility

    public init(store: any BlobStore, visibility: any BlobVisibilityIndex, place: BlobVisibility) {
        self.store = store
        self.visibility = visibility
        self.place = place
    }

    /// Whether the blob has been shown to belong here (its bytes may still be elsewhere or gone).
    public func contains(_ digest: Digest) async throws -> Bool {
        try await visibility.isVisible(digest, in: place)
    }

    /// The blob, when it belongs here and is stored.
    public func open(_ digest: Digest) async throws -> (any BlobReader)? {
        guard store.opensLocally else {
            guard try await contains(digest) else { return nil }
            return try await store.open(digest)
        }
        // A blob that is not stored at all (every cold pull) needs no database read.
        guard let reader = try await store.open(digest), try await contains(digest) else { return nil }
        return reader
    }

    public func size(of digest: Digest) async throws -> Int64? {
        guard try await contains(digest) else { return nil }
        return try await store.size(of: digest)
    }

    /// Small content (a manifest) that belongs here, whole.
    public func readAll(_ digest: Digest, limit: Int) async throws -> ByteBuffer? {
        guard try await contains(digest) else { return nil }
        return try await store.readAll(digest, limit: limit)
    }

    /// Records that the blob belongs here.
    public func admit(_ digest: Digest) async throws {
        try await visibility.makeVisible(digest, in: place)
    }

    /// The blob as a registry answers a GET: its content, or `BLOB_UNKNOWN`.
    public func content(_ digest: Digest) async throws -> BlobContent {
        guard let reader = try await open(digest) else { throw RegistryError(.blobUnknown, "blob unknown to registry") }
        return .complete(reader)
    }

    /// The blob's size as a registry answers a HEAD, or `BLOB_UNKNOWN`.
    public func requireSize(of digest: Digest) async throws -> Int64 {
        guard let size = try await size(of: digest) else { throw RegistryError(.blobUnknown, "blob unknown to registry") }
        return size
    }
}
