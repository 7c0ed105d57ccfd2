import Foundation

public struct CreateUserRequest: Codable, Sendable {
    public var email: String
    /// At least 12 characters; stored as a bcrypt hash, never returned.
    public var password: String
    /// `admin` (default) or `read-only`.
    public var role: String?

    public init(email: String, password: String, role: String? = nil) {
        self.email = email
        self.password = password
        self.role = role
    }
}

public struct UserBody: Codable, Sendable, Equatable {
    public var id: String
    public var email: String
    public var role: String
    public var createdAt: Date

    public init(id: String, email: String, role: String, createdAt: Date) {
        self.id = id
        self.email = email
        self.role = role
        self.createdAt = createdAt
    }
}

public struct AuditBody: Codable, Sendable, Equatable {
    public var at: Date
    public var actor: String
    public var action: String
    public var subject: String

    public init(at: Date, actor: String, action: String, subject: String) {
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
    }
}
