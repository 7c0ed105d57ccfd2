import Foundation

public struct CreateTokenRequest: Codable, Sendable {
    public var name: String
    /// `read` or `push` (the default).
    public var scope: String?

    public init(name: String, scope: String?) {
        self.name = name
        self.scope = scope
    }
}

public struct TokenBody: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var scope: String
    /// Only in the answer to create: the token is not stored in a readable form.
    public var token: String?
    public var createdAt: Date

    public init(id: String, name: String, scope: String, token: String?, createdAt: Date) {
        self.id = id
        self.name = name
        self.scope = scope
        self.token = token
        self.createdAt = createdAt
    }
}
