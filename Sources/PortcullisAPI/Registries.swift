import Foundation

public struct RegistryBody: Codable, Sendable, Equatable {
    public var name: String
    public var provider: String
    public var endpoint: String
    public var username: String?
    public var authType: String
    /// App slugs; empty means every app.
    public var apps: [String]
    public var createdAt: Date

    public init(name: String, provider: String, endpoint: String, username: String?, authType: String, apps: [String], createdAt: Date) {
        self.name = name
        self.provider = provider
        self.endpoint = endpoint
        self.username = username
        self.authType = authType
        self.apps = apps
        self.createdAt = createdAt
    }
}

public struct CreateRegistryRequest: Codable, Sendable {
    public var provider: String
    public var endpoint: String?
    public var name: String?
    public var username: String?
    /// Password or token; stored sealed, never returned.
    public var secret: String?
    public var authType: String?
    public var apps: [String]?

    public init(provider: String, endpoint: String? = nil, name: String? = nil, username: String? = nil, secret: String? = nil,
                authType: String? = nil, apps: [String]? = nil) {
        self.provider = provider
        self.endpoint = endpoint
        self.name = name
        self.username = username
        self.secret = secret
        self.authType = authType
        self.apps = apps
    }
}

public struct TestRegistryRequest: Codable, Sendable {
    public var image: String

    public init(image: String) { self.image = image }
}

public struct TestRegistryResult: Codable, Sendable, Equatable {
    /// `ok`, `auth failed`, `not found` or `unreachable`.
    public var result: String
    public var message: String

    public init(result: String, message: String) {
        self.result = result
        self.message = message
    }
}
