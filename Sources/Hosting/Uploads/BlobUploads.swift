import NIOCore
import OCI
import Storage

/// Blob uploads in progress (POST, PATCH…, PUT), as the registry API runs them. One
/// replica keeps them in memory over its spool (`LocalUploadSessions`); replicas sharing a
/// database and an object store keep them there, so each request of one upload may reach a
/// different replica (`SharedUploadSessions`).
public protocol BlobUploads: Sendable {
    /// Starts a session for `repository` and returns its id.
    func start(repository: String) async throws -> String
    /// Bytes received so far, or nil when there is no such session for this repository.
    func size(_ id: String, repository: String) async throws -> Int64?
    /// Appends a chunk; `start` (from `Content-Range`) must equal the bytes received so far.
    func append<Body: AsyncSequence & Sendable>(_ id: String, repository: String, start: Int64?, body: Body) async throws -> Int64
        where Body.Element == ByteBuffer
    /// Appends the last chunk (often empty), verifies the whole upload against `digest` and
    /// publishes it. The session ends either way.
    func finish<Body: AsyncSequence & Sendable>(_ id: String, repository: String, start: Int64?, lastChunk: Body, digest: Digest) async throws
        -> Int64 where Body.Element == ByteBuffer
    /// Returns false when there was no such session.
    func cancel(_ id: String, repository: String) async throws -> Bool
}

/// What both kinds of session do with bytes: write chunks to a spool file, and verify and
/// publish the finished file.
enum UploadSpool {
    /// Writes `body` at `offset` and returns the offset after it. A broken body is the
    /// client's failure to report, not ours.
    /// `received`: the session's bytes before this chunk (the file may hold only this chunk), for the message.
    /// A failure to write (a full disk) is the server's, thrown as it is.
    static func write<Body: AsyncSequence>(_ body: Body, to file: BlobFile, at offset: Int64, received: Int64? = nil) async throws -> Int64
    where Body.Element == ByteBuffer {
        var end = offset
        var chunks = body.makeAsyncIterator()
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await chunks.next()
            } catch let error as RegistryError {
                throw error
            } catch {
                throw RegistryError(.blobUploadInvalid, "upload interrupted; the session keeps the \(received ?? offset) bytes received before this "
                                    + "chunk: GET the upload's URL for its Range and send the rest from there")
            }
            guard let chunk else { return end }
            try await file.write(chunk, at: end)
            end += Int64(chunk.readableBytes)
        }
    }

    /// Hashes the first `size` bytes of `file`, and publishes it as `digest` when they
    /// match. The spool file is consumed either way.
    static func publish(_ file: BlobFile, size: Int64, as digest: Digest, to store: any BlobStore) async throws {
        var hasher = DigestHasher(algorithm: digest.algorithm)
        var offset: Int64 = 0
        do {
            while offset < size {
                let chunk = try await file.read(at: offset, count: Int(min(1 << 20, size - offset)))
                guard chunk.readableBytes > 0 else { break }
                chunk.withUnsafeReadableBytes { hasher.update($0) }
                offset += Int64(chunk.readableBytes)
            }
        } catch {
            store.discard(file)
            throw error
        }
        guard offset == size, hasher.finalize() == digest else {
            store.discard(file)
            throw RegistryError(.digestInvalid, "uploaded content does not match digest \(digest)")
        }
        if try await store.size(of: digest) != nil {
            store.discard(file)
        } else {
            // Only the bytes that were hashed are published, whatever a broken write left after them.
            do { try file.truncate(to: size) } catch {
                store.discard(file)
                throw error
            }
            try await store.commit(file, as: digest)
        }
    }

    static func outOfOrder(start: Int64, size: Int64) -> RegistryError {
        RegistryError(.rangeInvalid, "chunk starts at \(start) but \(size) bytes were received")
    }

    static let unknown = RegistryError(.blobUploadUnknown, "upload unknown to registry")
}
