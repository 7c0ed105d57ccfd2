import NIOCore
import OCI
import Storage

/// A manifest ready to serve; `bytes` is nil when only its head was asked for.
public struct ManifestContent: Sendable {
    public var record: ManifestRecord
    public var bytes: ByteBuffer?
    /// True when the upstream failed and a cached answer past its freshness was served.
    public var stale: Bool

    public init(record: ManifestRecord, bytes: ByteBuffer?, stale: Bool = false) {
        self.record = record
        self.bytes = bytes
        self.stale = stale
    }
}

/// A blob ready to serve: complete in the store, or still arriving from upstream.
public enum BlobContent: Sendable {
    case complete(any BlobReader)
    case arriving(any ArrivingBlob)
}

/// How far a blob that is still arriving can be read.
public enum ArrivalProgress: Sendable {
    /// Bytes `0..<upTo` can be read from the blob's file.
    case readable(upTo: Int64)
    /// Verified and complete; `length` bytes in all.
    case complete(length: Int64)
    /// The fetch failed; the error is what the client is told.
    case failed(any Error)
}

/// The reading side of a blob that is still being fetched. Reads wait for bytes that have
/// not arrived yet; a fetch that fails makes every waiting read fail with the reason.
public protocol ArrivingBlob: Sendable {
    var digest: Digest { get }
    /// Waits for the upstream's response head; nil when it declared no length.
    func length() async throws -> Int64?
    /// Up to `maxCount` bytes at `offset`, waiting until at least one is readable. Empty at the end.
    func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer
    /// The file the blob arrives in, for zero-copy sends of what `whenReadable` says is there.
    var localFile: BlobFile? { get }
    /// Calls `callback` once: when a byte at `offset` is readable, the blob is complete, or the
    /// fetch has failed. For senders that are not tasks (an event loop streaming file regions).
    func whenReadable(after offset: Int64, _ callback: @escaping @Sendable (ArrivalProgress) -> Void)
}

/// The read side of the distribution API, the same for every kind of repository: proxied
/// from an upstream, hosted here, or a chart delivered to one recipient. Routes handle a
/// request by calling one of these and never learn where content comes from.
public protocol RepositoryReader: Sendable {
    func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent
    func blob(_ digest: Digest) async throws -> BlobContent
    /// The size of a blob, for HEAD; never starts a fetch of its bytes.
    func blobSize(_ digest: Digest) async throws -> Int64
    func tags() async throws -> [String]
    func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex
}

/// A manifest accepted by a push.
public struct StoredManifest: Sendable {
    public var record: ManifestRecord
    /// The manifest's `subject`, answered as `OCI-Subject`.
    public var subject: Digest?

    public init(record: ManifestRecord, subject: Digest?) {
        self.record = record
        self.subject = subject
    }
}

/// The push side, for repositories vendors write to.
public protocol RepositoryWriter: RepositoryReader {
    /// Starts an upload session and returns its id.
    func startUpload() async throws -> String
    /// Appends a chunk; `start` (from `Content-Range`) must equal the bytes received so far. Returns the new size.
    func appendUpload<Body: AsyncSequence & Sendable>(_ session: String, start: Int64?, body: Body) async throws -> Int64
        where Body.Element == ByteBuffer
    /// Bytes received so far, or nil when there is no such session.
    func uploadSize(_ session: String) async throws -> Int64?
    /// Appends the last chunk (often empty), verifies the upload against `digest` and publishes it into this repository.
    func finishUpload<Body: AsyncSequence & Sendable>(_ session: String, start: Int64?, lastChunk: Body, digest: Digest) async throws
        where Body.Element == ByteBuffer
    /// Returns false when there was no such session.
    func cancelUpload(_ session: String) async throws -> Bool
    /// Links a blob another repository of the same app holds; false when it cannot.
    func mount(_ digest: Digest, from source: RepositoryName?) async throws -> Bool
    func putManifest(_ reference: ManifestReference, bytes: ByteBuffer, contentType: String?) async throws -> StoredManifest
    func deleteManifest(_ reference: ManifestReference) async throws
    func deleteBlob(_ digest: Digest) async throws
}
