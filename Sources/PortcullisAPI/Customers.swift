import Foundation

public struct CustomerBody: Codable, Sendable, Equatable {
    public var id: String
    public var app: String
    public var name: String
    public var email: String?
    public var channel: String
    public var type: String
    public var expiresAt: Date?
    public var archived: Bool
    public var helmInstall: Bool
    /// `active`, `expired` or `archived`.
    public var status: String
    public var licenseId: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, app: String, name: String, email: String?, channel: String, type: String, expiresAt: Date?, archived: Bool,
                helmInstall: Bool, status: String, licenseId: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.app = app
        self.name = name
        self.email = email
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.archived = archived
        self.helmInstall = helmInstall
        self.status = status
        self.licenseId = licenseId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct CreateCustomerRequest: Codable, Sendable {
    public var app: String
    public var name: String
    public var email: String?
    public var channel: String?
    public var type: String?
    public var expiresAt: Date?
    public var helmInstall: Bool?
    /// License field values by name (validated against the app's fields).
    public var fields: [String: String]?
    /// Create it even when the app has a customer of that name (refused otherwise).
    public var allowDuplicate: Bool?

    public init(app: String, name: String, email: String? = nil, channel: String? = nil, type: String? = nil, expiresAt: Date? = nil,
                helmInstall: Bool? = nil) {
        self.app = app
        self.name = name
        self.email = email
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.helmInstall = helmInstall
    }
}

/// A partial update: only the fields present change.
public struct UpdateCustomerRequest: Codable, Sendable {
    public var name: String?
    public var email: String?
    public var channel: String?
    public var type: String?
    public var expiresAt: Date?
    /// Removes the expiry altogether.
    public var clearExpiry: Bool?
    public var archived: Bool?
    public var helmInstall: Bool?
    public var fields: [String: String]?

    public init(name: String? = nil, email: String? = nil, channel: String? = nil, type: String? = nil, expiresAt: Date? = nil,
                clearExpiry: Bool? = nil, archived: Bool? = nil, helmInstall: Bool? = nil) {
        self.name = name
        self.email = email
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.clearExpiry = clearExpiry
        self.archived = archived
        self.helmInstall = helmInstall
    }

    public var isEmpty: Bool {
        name == nil && email == nil && channel == nil && type == nil && expiresAt == nil && clearExpiry == nil && archived == nil
            && helmInstall == nil
    }
}

public struct PullSecretBody: Codable, Sendable, Equatable {
    public var host: String
    public var dockerconfigjson: String
    public var base64: String

    public init(host: String, dockerconfigjson: String, base64: String) {
        self.host = host
        self.dockerconfigjson = dockerconfigjson
        self.base64 = base64
    }
}

/// One registry request by a customer, allowed or refused.
public struct PullBody: Codable, Sendable, Equatable {
    public var id: String
    public var at: Date
    public var customerID: String?
    public var appSlug: String?
    public var repository: String
    public var reference: String
    public var action: String
    public var status: Int
    public var bytes: Int64
    /// Why it was refused; absent when it succeeded.
    public var reason: String?

    public init(id: String, at: Date, customerID: String?, appSlug: String?, repository: String, reference: String, action: String,
                status: Int, bytes: Int64, reason: String?) {
        self.id = id
        self.at = at
        self.customerID = customerID
        self.appSlug = appSlug
        self.repository = repository
        self.reference = reference
        self.action = action
        self.status = status
        self.bytes = bytes
        self.reason = reason
    }
}

/// One containerd `hosts.toml` of a customer's node mirror configuration.
public struct MirrorHostsBody: Codable, Sendable, Equatable {
    /// The upstream registry host, the directory name under containerd's `config_path`.
    public var host: String
    /// Where containerd reads it by default.
    public var path: String
    public var contents: String

    public init(host: String, path: String, contents: String) {
        self.host = host
        self.path = path
        self.contents = contents
    }
}
