import Foundation
import OCI
import SQLKit

extension SQLMetadataStore {
    // MARK: Signing keys

    public func signingKeys() async throws -> [SigningKeyRecord] {
        try await db.raw("SELECT kid, sealed_pem, created_at FROM signing_keys ORDER BY created_at DESC, kid").all().map { row in
            SigningKeyRecord(keyID: try row.decode(column: "kid", as: String.self), sealedPEM: try row.decode(column: "sealed_pem", as: String.self),
                             createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    public func addSigningKey(_ key: SigningKeyRecord) async throws {
        try await db.raw("""
            INSERT INTO signing_keys (kid, sealed_pem, created_at) VALUES (\(bind: key.keyID), \(bind: key.sealedPEM), \(bind: key.createdAt.millis))
            ON CONFLICT (kid) DO NOTHING
            """).run()
    }

    // MARK: Fill leases

    public func acquireFillLease(_ digest: Digest, holder: String, address: String?, until: Date, now: Date) async throws -> FillLeaseHolder {
        try await db.raw("""
            INSERT INTO fill_leases (digest, holder, expires_at, holder_address)
            VALUES (\(bind: digest.description), \(bind: holder), \(bind: until.millis), \(bind: address))
            ON CONFLICT (digest) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, holder_address = excluded.holder_address
            WHERE fill_leases.expires_at < \(bind: now.millis) OR fill_leases.holder = excluded.holder
            """).run()
        guard let row = try await db.raw("""
            SELECT holder, holder_address FROM fill_leases WHERE digest = \(bind: digest.description)
            """).first() else {
            // Released between the two statements: nobody holds it, so nobody is waited on.
            return FillLeaseHolder(holder: "")
        }
        return FillLeaseHolder(holder: try row.decode(column: "holder", as: String.self),
                               address: try row.decode(column: "holder_address", as: String?.self))
    }

    public func releaseFillLease(_ digest: Digest, holder: String) async throws {
        try await db.raw("DELETE FROM fill_leases WHERE digest = \(bind: digest.description) AND holder = \(bind: holder)").run()
    }

    // MARK: Login failures

    public func recordLoginFailure(keys: [String], at: Date, since: Date) async throws -> [String: (count: Int, oldest: Date)] {
        var out: [String: (count: Int, oldest: Date)] = [:]
        for key in keys {
            try await db.raw("INSERT INTO login_failures (login_key, at) VALUES (\(bind: key), \(bind: at.millis))").run()
        }
        out = try await loginFailures(keys: keys, since: since)
        // Old failures say nothing any more; drop them now and then rather than on every call.
        if Int.random(in: 0..<200) == 0 {
            try await db.raw("DELETE FROM login_failures WHERE at < \(bind: since.millis)").run()
        }
        return out
    }

    public func loginFailures(keys: [String], since: Date) async throws -> [String: (count: Int, oldest: Date)] {
        var out: [String: (count: Int, oldest: Date)] = [:]
        for key in keys {
            let row = try await db.raw("""
                SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures WHERE login_key = \(bind: key) AND at > \(bind: since.millis)
                """).first()
            let n = try row?.decode(column: "n", as: Int.self) ?? 0
            let oldest = try row?.decode(column: "oldest", as: Int64?.self).map(Date.init(millis:)) ?? Date()
            out[key] = (n, oldest)
        }
        return out
    }

    // MARK: Upload sessions

    public func createUploadSession(_ s: UploadSessionRecord) async throws {
        try await db.raw("""
            INSERT INTO upload_sessions (id, repository, size, parts, created_at, updated_at)
            VALUES (\(bind: s.id), \(bind: s.repository), \(bind: s.size), \(bind: s.parts.map(\.line).joined()),
                    \(bind: s.updatedAt.millis), \(bind: s.updatedAt.millis))
            """).run()
    }

    public func uploadSession(id: String) async throws -> UploadSessionRecord? {
        try await db.raw("SELECT * FROM upload_sessions WHERE id = \(bind: id)").first().map(Self.uploadSession)
    }

    public func appendUploadPart(id: String, _ part: UploadPart, now: Date) async throws -> Bool {
        // One statement, so two replicas racing with chunks for the same offset cannot both win.
        try await db.raw("""
            UPDATE upload_sessions SET size = size + \(bind: part.length), parts = parts || \(bind: part.line), updated_at = \(bind: now.millis)
            WHERE id = \(bind: id) AND size = \(bind: part.offset) RETURNING id
            """).first() != nil
    }

    public func deleteUploadSession(id: String) async throws -> UploadSessionRecord? {
        try await db.raw("DELETE FROM upload_sessions WHERE id = \(bind: id) RETURNING *").first().map(Self.uploadSession)
    }

    public func staleUploadSessions(before: Date) async throws -> [UploadSessionRecord] {
        try await db.raw("SELECT * FROM upload_sessions WHERE updated_at < \(bind: before.millis)").all().map(Self.uploadSession)
    }

    static func uploadSession(_ row: any SQLRow) throws -> UploadSessionRecord {
        UploadSessionRecord(id: try row.decode(column: "id", as: String.self), repository: try row.decode(column: "repository", as: String.self),
                            size: try row.decode(column: "size", as: Int64.self),
                            parts: UploadPart.parse(lines: try row.decode(column: "parts", as: String.self)),
                            updatedAt: Date(millis: try row.decode(column: "updated_at", as: Int64.self)))
    }
}
