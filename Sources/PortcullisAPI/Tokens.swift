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

/// A registry-token signing key (never its private half).
public struct SigningKeyBody: Codable, Sendable, Equatable {
    /// The `kid` tokens signed with it carry: its RFC 7638 thumbprint.
    public var keyID: String
    public var createdAt: Date
    /// Whether new tokens are signed with it.
    public var signing: Bool

    public init(keyID: String, createdAt: Date, signing: Bool) {
        self.keyID = keyID
        self.createdAt = createdAt
        self.signing = signing
    }
}
