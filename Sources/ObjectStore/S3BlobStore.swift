import AsyncHTTPClient
import struct Crypto.SHA256
import Foundation
import NIOCore
import OCI
import SigV4
import Storage

/// Blobs in S3 (or any S3-compatible store), under `<prefix>/blobs/<algorithm>/<hex>`.
///
/// Fills and uploads still spool to local disk, which is where their digest is verified and
/// where readers follow a fill as it arrives; `commit` then uploads the spool file — in one
/// PUT below `partSize`, else as a multipart upload — streaming from the file, so no blob is
/// ever held in memory. The object appears only when the upload completes.
public struct S3BlobStore: BlobStore, UploadPartStore {
    public let client: S3Client
    let spoolRoot: String
    /// Multipart part size: S3 needs at least 5 MiB per part but the last.
    public static let partSize: Int64 = 16 << 20
    static let readChunk = 1 << 20

    public init(client: S3Client, spoolRoot: String) throws {
        self.client = client
        self.spoolRoot = spoolRoot
        let fm = FileManager.default
        try fm.createDirectory(atPath: spoolRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for leftover in (try? fm.contentsOfDirectory(atPath: spoolRoot)) ?? [] {
            try? fm.removeItem(atPath: spoolRoot + "/" + leftover)
        }
    }

    static func key(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.hex)" }

    public func size(of digest: Digest) async throws -> Int64? {
        try await Self.reaching { try await client.size(Self.key(digest)) }
    }

    /// A request to the object store for every open: ask the database first.
    public var opensLocally: Bool { false }

    public func open(_ digest: Digest) async throws -> (any BlobReader)? {
        guard let length = try await size(of: digest) else { return nil }
        return S3BlobReader(client: client, key: Self.key(digest), length: length)
    }

    public func makeSpoolFile() throws -> BlobFile {
        try BlobFile.create("\(spoolRoot)/\(UUID().uuidString.lowercased()).part")
    }

    public func commit(_ spool: BlobFile, as digest: Digest) async throws {
        defer { discard(spool) }
        try await Self.reaching { try await upload(spool, as: digest) }
    }

    private func upload(_ spool: BlobFile, as digest: Digest) async throws {
        let length = try spool.size()
        let key = Self.key(digest)
        if length <= Self.partSize {
            _ = try await client.put(key, length: length, payloadHash: try await Self.hash(spool, from: 0, count: length)) {
                Self.stream(spool, from: 0, count: length)
            }
            return
        }
        let uploadID = try await client.createMultipartUpload(key)
        do {
            var etags: [String] = []
            var offset: Int64 = 0
            while offset < length {
                let count = min(Self.partSize, length - offset)
                let start = offset
                let response = try await client.put(key, query: [("partNumber", String(etags.count + 1)), ("uploadId", uploadID)],
                                                    length: count, payloadHash: try await Self.hash(spool, from: start, count: count)) {
                    Self.stream(spool, from: start, count: count)
                }
                guard let etag = response.headers.first(name: "ETag") else {
                    throw S3Error.service(status: Int(response.status.code), code: "NoETag", message: "part upload without ETag")
                }
                etags.append(etag)
                offset += count
            }
            try await client.completeMultipartUpload(key, uploadID: uploadID, etags: etags)
        } catch {
            await client.abortMultipartUpload(key, uploadID: uploadID)
            throw error
        }
    }

    public func discard(_ spool: BlobFile) {
        unlink(spool.path)
    }

    public func put(_ bytes: ByteBuffer, as digest: Digest) async throws {
        if try await size(of: digest) != nil { return }
        try await Self.reaching { try await client.put(Self.key(digest), body: bytes) }
    }

    public func delete(_ digest: Digest) async throws {
        try await Self.reaching { try await client.delete(Self.key(digest)) }
    }

    // MARK: Upload parts

    static func partKey(_ key: String) -> String { "uploads/\(key)" }

    public func putPart(_ file: BlobFile, offset: Int64, length: Int64, key: String) async throws {
        _ = try await Self.reaching {
            try await client.put(Self.partKey(key), length: length, payloadHash: try await Self.hash(file, from: offset, count: length)) {
                Self.stream(file, from: offset, count: length)
            }
        }
    }

    public func openPart(_ key: String) async throws -> (any BlobReader)? {
        guard let length = try await Self.reaching({ try await client.size(Self.partKey(key)) }) else { return nil }
        return S3BlobReader(client: client, key: Self.partKey(key), length: length)
    }

    public func deletePart(_ key: String) async throws {
        try await Self.reaching { try await client.delete(Self.partKey(key)) }
    }

    /// Checks the bucket answers with these credentials.
    public func probe() async throws {
        try await Self.reaching { try await client.headBucket() }
    }

    /// A short-lived URL the client can fetch the blob from directly.
    public func presignedURL(_ digest: Digest, expires: Int) -> String {
        client.presignedGet(Self.key(digest), expires: expires)
    }

    /// The store's failures as `StorageUnavailable`: the request answers 503 and the client retries.
    static func reaching<T>(isolation: isolated (any Actor)? = #isolation, _ call: () async throws -> T) async throws -> T {
        do {
            return try await call()
        } catch let error as S3Error {
            throw StorageUnavailable(store: "object store", reason: error.description)
        }
    }

    // MARK: Reading the spool

    /// SHA-256 of a part of the spool file, hex, as the request's payload hash.
    static func hash(_ file: BlobFile, from start: Int64, count: Int64) async throws -> String {
        var sha = SHA256()
        var offset = start
        while offset < start + count {
            let chunk = try await file.read(at: offset, count: Int(min(Int64(readChunk), start + count - offset)))
            guard chunk.readableBytes > 0 else { throw S3Error.configuration("spool file shorter than its length") }
            chunk.withUnsafeReadableBytes { sha.update(bufferPointer: $0) }
            offset += Int64(chunk.readableBytes)
        }
        return SigV4Signer.hex(sha.finalize())
    }

    static func stream(_ file: BlobFile, from start: Int64, count: Int64) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var offset = start
                do {
                    while offset < start + count {
                        let chunk = try await file.read(at: offset, count: Int(min(Int64(readChunk), start + count - offset)))
                        guard chunk.readableBytes > 0 else { throw S3Error.configuration("spool file shorter than its length") }
                        offset += Int64(chunk.readableBytes)
                        continuation.yield(chunk)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// An object read as a stream: consecutive reads continue one ranged GET, a read elsewhere
/// starts another, so a whole blob costs one request and a `Range` request one more.
actor S3BlobReader: BlobReader {
    nonisolated let length: Int64
    private let client: S3Client
    private let key: String
    private var position: Int64 = -1
    private var iterator: HTTPClientResponse.Body.AsyncIterator?
    private var leftover = ByteBuffer()

    init(client: S3Client, key: String, length: Int64) {
        self.client = client
        self.key = key
        self.length = length
    }

    nonisolated var localFile: BlobFile? { nil }

    func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer {
        guard offset < length, maxCount > 0 else { return ByteBuffer() }
        if offset != position || iterator == nil {
            iterator = try await S3BlobStore.reaching { try await client.get(key, start: offset, end: length - 1) }.makeAsyncIterator()
            leftover.clear()
            position = offset
        }
        if leftover.readableBytes == 0 {
            let next: ByteBuffer?
            do {
                // Taken out while it runs: an actor's stored iterator cannot be advanced across a suspension.
                var current = iterator
                iterator = nil
                next = try await current?.next(isolation: self)
                iterator = current
            } catch {
                iterator = nil
                throw StorageUnavailable(store: "object store", reason: "read of \(key) broke at \(position): \(error)")
            }
            guard let next else {
                iterator = nil
                throw StorageUnavailable(store: "object store", reason: "object \(key) ended at \(position) of \(length)")
            }
            leftover = next
        }
        let take = min(maxCount, leftover.readableBytes)
        let out = leftover.readSlice(length: take)!
        position += Int64(take)
        return out
    }
}
