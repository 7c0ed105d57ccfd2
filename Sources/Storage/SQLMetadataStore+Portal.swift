import Foundation
import SQLKit

extension SQLMetadataStore {
    public func createUser(_ u: UserRecord) async throws {
        do {
            try await db.raw("""
                INSERT INTO users (id, email, password_hash, role, created_at)
                VALUES (\(bind: u.id), \(bind: u.email), \(bind: u.passwordHash), \(bind: u.role.rawValue), \(bind: u.createdAt.millis))
                """).run()
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.conflict("a user with email \(u.email) already exists")
        }
    }

    public func users() async throws -> [UserRecord] {
        try await db.raw("SELECT * FROM users ORDER BY email").all().map(Self.user)
    }

    public func user(id: String) async throws -> UserRecord? {
        try await db.raw("SELECT * FROM users WHERE id = \(bind: id)").first().map(Self.user)
    }

    public func user(email: String) async throws -> UserRecord? {
        try await db.raw("SELECT * FROM users WHERE email = \(bind: email)").first().map(Self.user)
    }

    public func deleteUser(id: String) async throws -> Bool {
        let existed = try await user(id: id) != nil
        try await db.raw("DELETE FROM web_sessions WHERE user_id = \(bind: id)").run()
        try await db.raw("DELETE FROM users WHERE id = \(bind: id)").run()
        return existed
    }

    static func user(_ row: any SQLRow) throws -> UserRecord {
        UserRecord(id: try row.decode(column: "id", as: String.self), email: try row.decode(column: "email", as: String.self),
                   passwordHash: try row.decode(column: "password_hash", as: String.self),
                   role: UserRecord.Role(rawValue: try row.decode(column: "role", as: String.self)) ?? .readOnly,
                   createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
    }

    public func createSession(_ s: WebSessionRecord) async throws {
        let (user, customer): (String?, String?) = switch s.subject {
        case .user(let id): (id, nil)
        case .customer(let id): (nil, id)
        }
        try await db.raw("""
            INSERT INTO web_sessions (id_hash, user_id, customer_id, csrf_token, expires_at)
            VALUES (\(bind: s.idHash), \(bind: user), \(bind: customer), \(bind: s.csrfToken), \(bind: s.expiresAt.millis))
            """).run()
    }

    public func session(idHash: String, now: Date) async throws -> WebSessionRecord? {
        guard let row = try await db.raw("""
            SELECT * FROM web_sessions WHERE id_hash = \(bind: idHash) AND expires_at > \(bind: now.millis)
            """).first() else { return nil }
        let subject: WebSessionRecord.Subject
        if let user = try row.decode(column: "user_id", as: String?.self) {
            subject = .user(id: user)
        } else if let customer = try row.decode(column: "customer_id", as: String?.self) {
            subject = .customer(id: customer)
        } else {
            return nil
        }
        return WebSessionRecord(idHash: idHash, subject: subject, csrfToken: try row.decode(column: "csrf_token", as: String.self),
                                expiresAt: Date(millis: try row.decode(column: "expires_at", as: Int64.self)))
    }

    public func deleteSession(idHash: String) async throws {
        try await db.raw("DELETE FROM web_sessions WHERE id_hash = \(bind: idHash)").run()
    }

    public func deleteSessions(customerID: String) async throws {
        try await db.raw("DELETE FROM web_sessions WHERE customer_id = \(bind: customerID)").run()
    }

    public func recordAudit(_ e: AuditRecord) async throws {
        try await db.raw("""
            INSERT INTO audit_events (at, actor, action, subject) VALUES (\(bind: e.at.millis), \(bind: e.actor), \(bind: e.action), \(bind: e.subject))
            """).run()
    }

    public func auditEvents(limit: Int) async throws -> [AuditRecord] {
        try await db.raw("SELECT * FROM audit_events ORDER BY at DESC LIMIT \(bind: limit)").all().map { row in
            AuditRecord(at: Date(millis: try row.decode(column: "at", as: Int64.self)), actor: try row.decode(column: "actor", as: String.self),
                        action: try row.decode(column: "action", as: String.self), subject: try row.decode(column: "subject", as: String.self))
        }
    }
}
