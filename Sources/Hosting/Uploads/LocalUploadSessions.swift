import Foundation
import NIOCore
import OCI
import Storage

/// Blob uploads in progress (POST, PATCH…, PUT). Each session appends to a spool file; the
/// final PUT hashes the whole file, so a session survives any number of chunks without
/// keeping hash state, and a retried upload after a crash simply starts again.
public actor UploadSessions {
    struct Session {
        var repository: String
        var file: BlobFile
        var size: Int64
        var touched: Date
    }

    private let store: any BlobStore
    private var sessions: [String: Session] = [:]
    /// Idle sessions are abandoned after this long.
    private let idleLimit: TimeInterval

    public init(store: any BlobStore, idleLimit: TimeInterval = 3600) {
        self.store = store
        self.idleLimit = idleLimit
    }

    public func start(repository: String) throws -> String {
        expireIdle()
        let id = UUID().uuidString.lowercased()
        sessions[id] = Session(repository: repository, file: try store.makeSpoolFile(), size: 0, touched: Date())
        return id
    }

    /// Current size, or nil when there is no such session for this repository.
    public func size(_ id: String, repository: String) -> Int64? {
        guard let s = sessions[id], s.repository == repository else { return nil }
        return s.size
    }

    /// Appends a chunk. `start`, from Content-Range, must equal the current size.
    public func append<Body: AsyncSequence>(_ id: String, repository: String, start: Int64?, body: Body) async throws -> Int64
    where Body.Element == ByteBuffer {
        guard var session = sessions[id], session.repository == repository else {
            throw RegistryError(.blobUploadUnknown, "upload unknown to registry")
        }
        if let start, start != session.size {
            throw RegistryError(.rangeInvalid, "chunk starts at \(start) but \(session.size) bytes were received")
        }
        // Claim the session so a concurrent PATCH cannot interleave writes.
        sessions[id] = nil
        do {
            for try await chunk in body {
                try await session.file.write(chunk, at: session.size)
                session.size += Int64(chunk.readableBytes)
            }
        } catch {
            store.discard(session.file)
            throw error is RegistryError ? error : RegistryError(.blobUploadInvalid, "upload interrupted; start it again")
        }
        session.touched = Date()
        sessions[id] = session
        return session.size
    }

    /// Verifies the upload against `digest` and publishes it. The session ends either way.
    public func finish(_ id: String, repository: String, digest: Digest) async throws -> Int64 {
        guard let session = sessions[id], session.repository == repository else {
            throw RegistryError(.blobUploadUnknown, "upload unknown to registry")
        }
        sessions[id] = nil
        var hasher = DigestHasher(algorithm: digest.algorithm)
        var offset: Int64 = 0
        do {
            while offset < session.size {
                let chunk = try await session.file.read(at: offset, count: Int(min(1 << 20, session.size - offset)))
                guard chunk.readableBytes > 0 else { break }
                chunk.withUnsafeReadableBytes { hasher.update($0) }
                offset += Int64(chunk.readableBytes)
            }
        } catch {
            store.discard(session.file)
            throw error
        }
        guard offset == session.size, hasher.finalize() == digest else {
            store.discard(session.file)
            throw RegistryError(.digestInvalid, "uploaded content does not match digest \(digest)")
        }
        if try await store.size(of: digest) != nil {
            store.discard(session.file)
        } else {
            try await store.commit(session.file, as: digest)
        }
        return session.size
    }

    public func cancel(_ id: String, repository: String) -> Bool {
        guard let session = sessions[id], session.repository == repository else { return false }
        sessions[id] = nil
        store.discard(session.file)
        return true
    }

    private func expireIdle() {
        let now = Date()
        for (id, session) in sessions where now.timeIntervalSince(session.touched) > idleLimit {
            store.discard(session.file)
            sessions[id] = nil
        }
    }
}
