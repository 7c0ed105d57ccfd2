import Foundation

public struct RegistryBody: Codable, Sendable, Equatable {
    public var name: String
    public var provider: String
    public var endpoint: String
    /// The username, robot account or (ECR) access key ID; never the secret.
    public var username: String?
    /// `password`, `token`, `anonymous` or `access-key`.
    public var authType: String
    public var region: String?
    /// Upstream repository patterns customers may pull; empty: all.
    public var allow: [String]
    /// Anyone may pull through it without a license.
    public var anonymousPull: Bool
    /// App slugs; empty means every app.
    public var apps: [String]
    /// Token service hosts approved besides the registry's own host.
    public var tokenRealms: [String]?
    public var createdAt: Date
    /// Set when the credentials were kept without being tried (the registry could not be reached).
    public var warning: String?

    public init(name: String, provider: String, endpoint: String, username: String?, authType: String, region: String? = nil,
                allow: [String] = [], anonymousPull: Bool = false, apps: [String], tokenRealms: [String]? = nil, createdAt: Date) {
        self.tokenRealms = tokenRealms
        self.name = name
        self.provider = provider
        self.endpoint = endpoint
        self.username = username
        self.authType = authType
        self.region = region
        self.allow = allow
        self.anonymousPull = anonymousPull
        self.apps = apps
        self.createdAt = createdAt
    }
}

public struct CreateRegistryRequest: Codable, Sendable {
    public var provider: String
    public var endpoint: String?
    public var name: String?
    /// Username, robot account, or (ECR) access key ID.
    public var username: String?
    /// Password, token, JSON key or (ECR) secret access key; stored sealed, never returned.
    public var secret: String?
    /// `password` (default) or `token`.
    public var authType: String?
    /// ECR only, when the endpoint's host does not name the region.
    public var region: String?
    /// True to register a public registry without credentials.
    public var anonymous: Bool?
    public var allow: [String]?
    /// True to let anyone pull through it without a license (rate-limited per address).
    public var anonymousPull: Bool?
    public var apps: [String]?
    /// Hosts of token services the registry may send logins to besides its own host.
    public var tokenRealms: [String]?
    /// False to keep the credentials without trying them first (default: tried, refused if refused).
    public var verify: Bool?

    public init(provider: String, endpoint: String? = nil, name: String? = nil, username: String? = nil, secret: String? = nil,
                authType: String? = nil, region: String? = nil, anonymous: Bool? = nil, allow: [String]? = nil, anonymousPull: Bool? = nil,
                apps: [String]? = nil, tokenRealms: [String]? = nil) {
        self.tokenRealms = tokenRealms
        self.provider = provider
        self.endpoint = endpoint
        self.name = name
        self.username = username
        self.secret = secret
        self.authType = authType
        self.region = region
        self.anonymous = anonymous
        self.allow = allow
        self.anonymousPull = anonymousPull
        self.apps = apps
    }
}

/// `PATCH /registries/{name}`: new credentials for a registry (rotation).
public struct UpdateRegistryRequest: Codable, Sendable {
    /// The new username or (ECR) access key ID; the current one when absent.
    public var username: String?
    public var secret: String
    /// `password` (default) or `token`.
    public var authType: String?
    public var verify: Bool?

    public init(username: String?, secret: String, authType: String?, verify: Bool?) {
        self.username = username
        self.secret = secret
        self.authType = authType
        self.verify = verify
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

/// A vendor repository (`<app>/<repo>`) anyone may pull without a license.
public struct PublicRepositoryBody: Codable, Sendable, Equatable {
    public var name: String
    public init(name: String) { self.name = name }
}
