import Foundation
import NIOCore
import OCI
import Storage

/// Upload sessions replicas share: a session is a database row and each chunk an object of
/// its own in the object store, so the POST, each PATCH and the PUT of one upload may reach
/// different replicas. A chunk is stored before it is acknowledged; the session row moves
/// from one size to the next in one statement, so of two racing chunks for the same offset
/// one lands and the other is refused as out of order.
///
/// A replica also keeps the bytes of a session it received from the start in a spool file,
/// so an upload that stays on one replica — the usual case — is published without reading
/// its parts back, and a final chunk that comes with the PUT is never stored as a part.
public actor SharedUploadSessions: BlobUploads {
    private let sessions: any UploadSessionStore
    private let parts: any UploadPartStore
    private let store: any BlobStore
    private let idleLimit: TimeInterval
    /// Spool files holding bytes `0..<size` of a session, for sessions received here from the start.
    private var local: [String: (file: BlobFile, size: Int64, touched: Date)] = [:]
    /// Each local copy is an open file: past this many, a session's bytes live only in its parts
    /// (assembled at the end), so sessions nobody finishes cannot take every descriptor.
    private let localCopyLimit: Int
    private var lastExpiry = Date.distantPast

    public init(sessions: any UploadSessionStore, parts: any UploadPartStore, store: any BlobStore, idleLimit: TimeInterval = 3600,
                localCopyLimit: Int = 1000) {
        self.sessions = sessions
        self.parts = parts
        self.store = store
        self.idleLimit = idleLimit
        self.localCopyLimit = localCopyLimit
    }

    /// Local copies held (each an open file).
    var localCopies: Int { local.count }

    public func start(repository: String) async throws -> String {
        await expireIdle()
        let id = UUID().uuidString.lowercased()
        try await sessions.createUploadSession(UploadSessionRecord(id: id, repository: repository))
        return id
    }

    public func size(_ id: String, repository: String) async throws -> Int64? {
        guard let record = try await sessions.uploadSession(id: id), record.repository == repository else { return nil }
        return record.size
    }

    public func append<Body: AsyncSequence & Sendable>(_ id: String, repository: String, start: Int64?, body: Body) async throws -> Int64
    where Body.Element == ByteBuffer {
        let record = try await session(id, repository: repository, start: start)
        // Continue this replica's copy when it holds everything so far; otherwise the chunk
        // gets a spool file of its own, kept as the copy only when it is the first chunk.
        let copy = takeLocalCopy(id, size: record.size)
        let file = try copy ?? store.makeSpoolFile()
        let offset = copy == nil ? 0 : record.size
        let end: Int64
        do {
            end = try await UploadSpool.write(body, to: file, at: offset, received: record.size)
            let part = UploadPart(offset: record.size, length: end - offset, key: "\(id)/\(record.size)-\(UUID().uuidString.prefix(8).lowercased())")
            try await parts.putPart(file, offset: offset, length: part.length, key: part.key)
            guard try await sessions.appendUploadPart(id: id, part, now: Date()) else {
                try? await parts.deletePart(part.key)
                throw UploadSpool.outOfOrder(start: record.size, size: try await sessions.uploadSession(id: id)?.size ?? 0)
            }
        } catch {
            store.discard(file)
            throw error
        }
        if copy != nil || record.size == 0, local.count < localCopyLimit {
            local[id] = (file, record.size + end - offset, Date())
        } else {
            store.discard(file)
        }
        return record.size + end - offset
    }

    public func finish<Body: AsyncSequence & Sendable>(_ id: String, repository: String, start: Int64?, lastChunk: Body, digest: Digest) async throws
        -> Int64 where Body.Element == ByteBuffer {
        let record = try await session(id, repository: repository, start: start)
        let file: BlobFile
        if let copy = takeLocalCopy(id, size: record.size) {
            file = copy
        } else {
            file = try await assemble(record)
        }
        let size: Int64
        do {
            size = try await UploadSpool.write(lastChunk, to: file, at: record.size)
            // Ending the session first means two replicas finishing at once cannot both publish.
            guard let ended = try await sessions.deleteUploadSession(id: id) else { throw UploadSpool.unknown }
            guard ended.parts == record.parts else { throw RegistryError(.blobUploadInvalid, "the upload changed while it was being finished") }
        } catch {
            store.discard(file)
            throw error
        }
        defer { Task { [parts] in await Self.delete(record.parts, from: parts) } }
        try await UploadSpool.publish(file, size: size, as: digest, to: store)
        return size
    }

    public func cancel(_ id: String, repository: String) async throws -> Bool {
        guard let record = try await sessions.uploadSession(id: id), record.repository == repository,
              let ended = try await sessions.deleteUploadSession(id: id) else { return false }
        if let copy = local.removeValue(forKey: id) { store.discard(copy.file) }
        await Self.delete(ended.parts, from: parts)
        return true
    }

    private func session(_ id: String, repository: String, start: Int64?) async throws -> UploadSessionRecord {
        guard let record = try await sessions.uploadSession(id: id), record.repository == repository else { throw UploadSpool.unknown }
        if let start, start != record.size { throw UploadSpool.outOfOrder(start: start, size: record.size) }
        return record
    }

    /// This replica's copy of the session when it holds exactly `size` bytes, taken out of
    /// the table while a request writes to it; a stale copy is dropped.
    private func takeLocalCopy(_ id: String, size: Int64) -> BlobFile? {
        guard let copy = local.removeValue(forKey: id) else { return nil }
        guard copy.size == size else {
            store.discard(copy.file)
            return nil
        }
        return copy.file
    }

    /// Reads the session's parts back from the object store into a new spool file.
    private func assemble(_ record: UploadSessionRecord) async throws -> BlobFile {
        let file = try store.makeSpoolFile()
        do {
            var expected: Int64 = 0
            for part in record.parts {
                guard part.offset == expected, let reader = try await parts.openPart(part.key), reader.length == part.length else {
                    throw RegistryError(.blobUploadInvalid, "part of the upload at \(part.offset) is missing; start it again")
                }
                var offset: Int64 = 0
                while offset < part.length {
                    let chunk = try await reader.read(at: offset, maxCount: 1 << 20)
                    guard chunk.readableBytes > 0 else { throw RegistryError(.blobUploadInvalid, "part of the upload at \(part.offset) is short") }
                    try await file.write(chunk, at: part.offset + offset)
                    offset += Int64(chunk.readableBytes)
                }
                expected += part.length
            }
            guard expected == record.size else { throw RegistryError(.blobUploadInvalid, "the upload's parts do not add up; start it again") }
        } catch {
            store.discard(file)
            throw error
        }
        return file
    }

    /// Drops sessions nobody has touched for `idleLimit`, on whichever replica notices first;
    /// at most once a minute here.
    private func expireIdle() async {
        let now = Date()
        guard now.timeIntervalSince(lastExpiry) > 60 else { return }
        lastExpiry = now
        for (id, copy) in local where now.timeIntervalSince(copy.touched) > idleLimit {
            store.discard(copy.file)
            local[id] = nil
        }
        guard let stale = try? await sessions.staleUploadSessions(before: now.addingTimeInterval(-idleLimit)) else { return }
        for record in stale {
            if let ended = try? await sessions.deleteUploadSession(id: record.id) { await Self.delete(ended.parts, from: parts) }
        }
    }

    private static func delete(_ list: [UploadPart], from parts: any UploadPartStore) async {
        for part in list { try? await parts.deletePart(part.key) }
    }
}
