import Foundation

/// A vendor user of the web portal.
public struct UserRecord: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case admin
        case readOnly = "read-only"
    }

    public var id: String
    public var email: String
    /// bcrypt hash of the password.
    public var passwordHash: String
    public var role: Role
    public var createdAt: Date

    public init(id: String = UUID().uuidString.lowercased(), email: String, passwordHash: String, role: Role, createdAt: Date = Date()) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.role = role
        self.createdAt = createdAt
    }
}

/// A signed-in browser: a vendor user or a customer (by license). Stored by the hash of the
/// cookie's value, so the database never holds a usable session.
public struct WebSessionRecord: Sendable, Equatable {
    public enum Subject: Sendable, Equatable {
        case user(id: String)
        case customer(id: String)
    }

    public var idHash: String
    public var subject: Subject
    /// Every form of the session carries it; a post without it is refused.
    public var csrfToken: String
    public var expiresAt: Date

    public init(idHash: String, subject: Subject, csrfToken: String, expiresAt: Date) {
        self.idHash = idHash
        self.subject = subject
        self.csrfToken = csrfToken
        self.expiresAt = expiresAt
    }
}

/// One change, who made it and when.
public struct AuditRecord: Sendable, Equatable {
    public var at: Date
    /// `user:<email>`, `api:admin`, `api:token:<name>`.
    public var actor: String
    public var action: String
    public var subject: String

    public init(at: Date = Date(), actor: String, action: String, subject: String) {
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
    }
}

public protocol PortalStore: Sendable {
    /// Throws `StoreError.conflict` when the email is taken.
    func createUser(_ user: UserRecord) async throws
    func users() async throws -> [UserRecord]
    func user(id: String) async throws -> UserRecord?
    func user(email: String) async throws -> UserRecord?
    /// Removes the user and every session of theirs.
    func deleteUser(id: String) async throws -> Bool

    func createSession(_ session: WebSessionRecord) async throws
    func session(idHash: String, now: Date) async throws -> WebSessionRecord?
    func deleteSession(idHash: String) async throws
    /// Ends every portal session of a customer (their license stopped being valid).
    func deleteSessions(customerID: String) async throws

    func recordAudit(_ event: AuditRecord) async throws
    func auditEvents(limit: Int) async throws -> [AuditRecord]
}
