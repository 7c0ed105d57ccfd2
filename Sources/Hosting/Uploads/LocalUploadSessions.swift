import Foundation
import NIOCore
import OCI
import Storage

/// Upload sessions of one replica: each appends to a spool file, and the final PUT hashes the
/// whole file, so a session survives any number of chunks without keeping hash state, and a
/// retried upload after a crash simply starts again.
public actor LocalUploadSessions: BlobUploads {
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
    /// Each session keeps its spool file open: without a bound, one push token opening sessions
    /// it never finishes takes every file descriptor the server has, and with them every pull.
    private let sessionLimit: Int

    public init(store: any BlobStore, idleLimit: TimeInterval = 3600, sessionLimit: Int = 1000) {
        self.store = store
        self.idleLimit = idleLimit
        self.sessionLimit = sessionLimit
    }

    public func start(repository: String) throws -> String {
        expireIdle()
        guard sessions.count < sessionLimit else {
            throw RegistryError(.tooManyRequests, "\(sessionLimit) uploads are already in progress on this server: finish or "
                                + "cancel (DELETE) some, or wait for idle ones to be dropped after \(Int(idleLimit / 60)) minutes", retryAfter: 60)
        }
        let id = UUID().uuidString.lowercased()
        sessions[id] = Session(repository: repository, file: try store.makeSpoolFile(), size: 0, touched: Date())
        return id
    }

    public func size(_ id: String, repository: String) -> Int64? {
        guard let s = sessions[id], s.repository == repository else { return nil }
        return s.size
    }

    public func append<Body: AsyncSequence & Sendable>(_ id: String, repository: String, start: Int64?, body: Body) async throws -> Int64
    where Body.Element == ByteBuffer {
        var session = try claim(id, repository: repository, start: start)
        do {
            session.size = try await UploadSpool.write(body, to: session.file, at: session.size)
        } catch {
            keepAfterBrokenChunk(id, session)
            throw error
        }
        session.touched = Date()
        sessions[id] = session
        return session.size
    }

    public func finish<Body: AsyncSequence & Sendable>(_ id: String, repository: String, start: Int64?, lastChunk: Body, digest: Digest) async throws
        -> Int64 where Body.Element == ByteBuffer {
        let session = try claim(id, repository: repository, start: start)
        let size: Int64
        do {
            size = try await UploadSpool.write(lastChunk, to: session.file, at: session.size)
        } catch {
            keepAfterBrokenChunk(id, session)
            throw error
        }
        try await UploadSpool.publish(session.file, size: size, as: digest, to: store)
        return size
    }

    public func cancel(_ id: String, repository: String) -> Bool {
        guard let session = sessions[id], session.repository == repository else { return false }
        sessions[id] = nil
        store.discard(session.file)
        return true
    }

    /// Puts a session back as it was before a chunk that did not arrive whole (the client went
    /// away, a write failed), its file cut back to the bytes that count: the client can resume
    /// from the Range a GET of the upload reports, as the distribution spec lets it, instead of
    /// sending the whole blob again. The file goes when it cannot be cut back.
    private func keepAfterBrokenChunk(_ id: String, _ session: Session) {
        do {
            try session.file.truncate(to: session.size)
        } catch {
            store.discard(session.file)
            return
        }
        var kept = session
        kept.touched = Date()
        sessions[id] = kept
    }

    /// Takes the session out of the table while a request writes to it, so a concurrent
    /// PATCH cannot interleave writes; the request puts it back when it is done.
    private func claim(_ id: String, repository: String, start: Int64?) throws -> Session {
        guard let session = sessions[id], session.repository == repository else { throw UploadSpool.unknown }
        if let start, start != session.size { throw UploadSpool.outOfOrder(start: start, size: session.size) }
        sessions[id] = nil
        return session
    }

    private func expireIdle() {
        let now = Date()
        for (id, session) in sessions where now.timeIntervalSince(session.touched) > idleLimit {
            store.discard(session.file)
            sessions[id] = nil
        }
    }
}
