import NIOCore
import OCI

/// Random access to one stored blob.
public protocol BlobReader: Sendable {
    var length: Int64 { get }
    func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer
    /// The local file behind this blob when there is one, for zero-copy sends.
    var localFile: BlobFile? { get }
}

/// Content-addressed blob storage. Blobs become visible only through `commit`, after the
/// caller has verified size and digest, so a reader can never see a partial blob.
///
/// Fills and uploads are written to a local spool file first whatever the backend, which
/// is also what lets several clients read a blob while it is still arriving.
public protocol BlobStore: Sendable {
    func size(of digest: Digest) async throws -> Int64?
    func open(_ digest: Digest) async throws -> (any BlobReader)?
    /// A new, empty spool file for an incoming blob.
    func makeSpoolFile() throws -> BlobFile
    /// Publishes a verified spool file under its digest. The spool path is gone afterwards.
    func commit(_ spool: BlobFile, as digest: Digest) async throws
    /// Removes an unverified or failed spool file.
    func discard(_ spool: BlobFile)
    /// Stores small verified content (manifests) in one step.
    func put(_ bytes: ByteBuffer, as digest: Digest) async throws
    func delete(_ digest: Digest) async throws
    /// Whether `open` costs a system call here rather than a request to another service: a
    /// caller that must also ask the database about the blob can then look here first.
    var opensLocally: Bool { get }
}

extension BlobStore {
    /// Reads a whole blob; only for small content such as manifests.
    public func readAll(_ digest: Digest, limit: Int) async throws -> ByteBuffer? {
        guard let reader = try await open(digest) else { return nil }
        guard reader.length <= Int64(limit) else { return nil }
        var out = ByteBuffer()
        var offset: Int64 = 0
        while offset < reader.length {
            var chunk = try await reader.read(at: offset, maxCount: Int(reader.length - offset))
            if chunk.readableBytes == 0 { break }
            offset += Int64(chunk.readableBytes)
            out.writeBuffer(&chunk)
        }
        return out
    }
}

/// The database or the object store could not be reached or refused to work. Requests
/// answer 503 and the client retries; the server recovers when the store returns.
public struct StorageUnavailable: Error, CustomStringConvertible {
    /// `database` or `object store`.
    public var store: String
    public var reason: String

    public init(store: String, reason: String) {
        self.store = store
        self.reason = reason
    }

    public var description: String { "\(store) unavailable: \(reason)" }
}
