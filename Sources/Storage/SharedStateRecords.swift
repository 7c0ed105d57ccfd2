import Foundation
import OCI

/// A registry-token signing key, sealed with the server key. Every replica signs with the
/// newest and verifies with any, so tokens work on every replica and survive a rotation.
public struct SigningKeyRecord: Sendable, Equatable {
    public var keyID: String
    public var sealedPEM: String
    public var createdAt: Date

    public init(keyID: String, sealedPEM: String, createdAt: Date = Date()) {
        self.keyID = keyID
        self.sealedPEM = sealedPEM
        self.createdAt = createdAt
    }
}

public protocol SigningKeyStore: Sendable {
    /// Newest first.
    func signingKeys() async throws -> [SigningKeyRecord]
    /// Adds a key; a key with the same id already there wins (two replicas racing at start).
    func addSigningKey(_ key: SigningKeyRecord) async throws
}

/// Who holds a fill lease: the replica, and where other replicas can reach it while it fills.
public struct FillLeaseHolder: Sendable, Equatable {
    public var holder: String
    /// The holder's advertised base URL; nil when it advertises none.
    public var address: String?

    public init(holder: String, address: String? = nil) {
        self.holder = holder
        self.address = address
    }
}

/// Who is fetching a blob from upstream, so that replicas sharing an object store fetch each
/// blob once. A lease expires unless renewed, so a dead filler's blob is taken over.
public protocol FillLeaseStore: Sendable {
    /// Takes the lease for `holder` (reachable at `address`) until `until` when it is free,
    /// expired at `now`, or already `holder`'s; returns who holds it afterwards.
    func acquireFillLease(_ digest: Digest, holder: String, address: String?, until: Date, now: Date) async throws -> FillLeaseHolder
    func releaseFillLease(_ digest: Digest, holder: String) async throws
}

extension FillLeaseStore {
    /// Whether `holder` has the lease afterwards (see the full form), for holders nobody streams from.
    public func acquireFillLease(_ digest: Digest, holder: String, until: Date, now: Date) async throws -> Bool {
        try await acquireFillLease(digest, holder: holder, address: nil, until: until, now: now).holder == holder
    }
}

/// Failed logins, shared by the replicas that count them.
public protocol LoginFailureStore: Sendable {
    /// Records a failure for each key and returns, per key, the failures since `since`.
    func recordLoginFailure(keys: [String], at: Date, since: Date) async throws -> [String: (count: Int, oldest: Date)]
    /// Per key, the failures since `since`, recording nothing.
    func loginFailures(keys: [String], since: Date) async throws -> [String: (count: Int, oldest: Date)]
}

/// A chunked upload whose chunks may reach different replicas: its size and parts live in
/// the database, the parts themselves in the object store.
public struct UploadSessionRecord: Sendable, Equatable {
    public var id: String
    public var repository: String
    public var size: Int64
    /// In order, end to end from 0 to `size`.
    public var parts: [UploadPart]
    public var updatedAt: Date

    public init(id: String, repository: String, size: Int64 = 0, parts: [UploadPart] = [], updatedAt: Date = Date()) {
        self.id = id
        self.repository = repository
        self.size = size
        self.parts = parts
        self.updatedAt = updatedAt
    }
}

/// One chunk of an upload, stored as its own object.
public struct UploadPart: Sendable, Equatable {
    public var offset: Int64
    public var length: Int64
    public var key: String

    public init(offset: Int64, length: Int64, key: String) {
        self.offset = offset
        self.length = length
        self.key = key
    }

    /// One line per part, `offset length key`: appended to in one statement as chunks land.
    public var line: String { "\(offset) \(length) \(key)\n" }

    public static func parse(lines: String) -> [UploadPart] {
        lines.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let offset = Int64(fields[0]), let length = Int64(fields[1]) else { return nil }
            return UploadPart(offset: offset, length: length, key: String(fields[2]))
        }
    }
}

public protocol UploadSessionStore: Sendable {
    func createUploadSession(_ session: UploadSessionRecord) async throws
    func uploadSession(id: String) async throws -> UploadSessionRecord?
    /// Appends `part` when the session is still `part.offset` bytes long; false when another
    /// request moved it first (the chunk is then out of order) or the session is gone.
    func appendUploadPart(id: String, _ part: UploadPart, now: Date) async throws -> Bool
    /// Removes the session and returns it, or nil when it was already gone.
    func deleteUploadSession(id: String) async throws -> UploadSessionRecord?
    /// Sessions untouched since `before`, for cleanup.
    func staleUploadSessions(before: Date) async throws -> [UploadSessionRecord]
}

/// Scratch objects beside the blobs for what several replicas must reach: the parts of
/// chunked uploads that arrive at different replicas.
public protocol UploadPartStore: Sendable {
    /// Stores `length` bytes of `file` from `offset` as the part `key`.
    func putPart(_ file: BlobFile, offset: Int64, length: Int64, key: String) async throws
    func openPart(_ key: String) async throws -> (any BlobReader)?
    func deletePart(_ key: String) async throws
}
