import Foundation
import OCI

public enum LicenseType: String, Codable, Sendable, CaseIterable {
    case dev, trial, paid, community

    /// A new customer's type when none is given, in the CLI, the API and the portal alike.
    public static let newCustomerDefault = LicenseType.dev
}

/// What a customer's license currently allows, evaluated at a point in time.
public enum LicenseStanding: Equatable, Sendable {
    case active
    case expired(at: Date)
    case archived

    public var isActive: Bool { self == .active }

    /// `active`, `expired` or `archived`, as the API, the CLI and the portal show it.
    public var label: String {
        switch self {
        case .active: "active"
        case .expired: "expired"
        case .archived: "archived"
        }
    }

    /// Said to the client: distinct enough to act on, silent about anything but their own license.
    public var refusal: String? {
        switch self {
        case .active: nil
        case .expired: "license has expired"
        case .archived: "license is no longer active"
        }
    }
}

/// A customer's license, the unit of access: one app, one channel, an optional expiry.
public struct License: Sendable, Equatable {
    public var customerID: String
    public var appID: String
    public var appSlug: String
    public var customerName: String
    public var customerEmail: String?
    public var channel: String
    public var type: LicenseType
    public var expiresAt: Date?
    public var archived: Bool
    public var helmInstall: Bool

    public init(customerID: String, appID: String, appSlug: String, customerName: String, customerEmail: String?,
                channel: String, type: LicenseType, expiresAt: Date?, archived: Bool, helmInstall: Bool) {
        self.customerID = customerID
        self.appID = appID
        self.appSlug = appSlug
        self.customerName = customerName
        self.customerEmail = customerEmail
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.archived = archived
        self.helmInstall = helmInstall
    }

    public func standing(at now: Date) -> LicenseStanding {
        if archived { return .archived }
        if let expiresAt, expiresAt <= now { return .expired(at: expiresAt) }
        return .active
    }
}

/// License IDs are bearer secrets: 160 random bits, hex-encoded.
public enum LicenseID {
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<20).map { _ in
            let b = UInt8.random(in: 0...255, using: &rng)
            return (b < 16 ? "0" : "") + String(b, radix: 16)
        }.joined()
    }

    /// Cheap shape check so obviously wrong passwords never reach the database.
    public static func isWellFormed(_ text: String) -> Bool {
        (16...128).contains(text.utf8.count) && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }
}

/// The Docker config a customer's cluster uses to pull through Portcullis.
public enum PullSecret {
    /// The username Portcullis puts in pull secrets; any username is accepted on login.
    public static let username = "LICENSE_ID"

    /// `{"auths":{"<host>":{"auth":"<base64 LICENSE_ID:<license>>"},…}}`, one entry per host the
    /// customer may pull from (an app's custom domain and the default host).
    public static func dockerConfigJSON(hosts: [String], licenseID: String) -> String {
        let auth = BasicCredentials(username: username, password: licenseID).headerValue.dropFirst("Basic ".count)
        var seen = Set<String>()
        let entries = hosts.filter { seen.insert($0).inserted }.map { #"\#(JSONString.quote($0)):{"auth":"\#(auth)"}"# }
        return #"{"auths":{\#(entries.joined(separator: ","))}}"#
    }

    public static func dockerConfigJSON(host: String, licenseID: String) -> String {
        dockerConfigJSON(hosts: [host], licenseID: licenseID)
    }

    /// The value charts receive as `global.replicated.dockerconfigjson`.
    public static func dockerConfigJSONBase64(hosts: [String], licenseID: String) -> String {
        Base64.encode(Array(dockerConfigJSON(hosts: hosts, licenseID: licenseID).utf8))
    }

    public static func dockerConfigJSONBase64(host: String, licenseID: String) -> String {
        dockerConfigJSONBase64(hosts: [host], licenseID: licenseID)
    }
}
