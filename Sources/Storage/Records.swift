import Foundation
import Licensing
import OCI

public struct AppRecord: Sendable, Equatable, Codable {
    public var id: String
    public var slug: String
    public var name: String
    public var createdAt: Date

    public init(id: String = UUID().uuidString.lowercased(), slug: String, name: String, createdAt: Date = Date()) {
        self.id = id
        self.slug = slug
        self.name = name
        self.createdAt = createdAt
    }
}

/// How a registered upstream is logged in to.
public enum RegistryAuthType {
    public static let password = "password"
    public static let token = "token"
    public static let anonymous = "anonymous"
    /// An AWS access key exchanged for ECR registry passwords.
    public static let accessKey = "access-key"
}

/// An upstream registry a vendor registered, with its credential sealed.
public struct RegistryRecord: Sendable, Equatable {
    public var id: String
    /// The slug used in proxy paths: `proxy/<app>/<name>/<repo>`.
    public var name: String
    public var provider: String
    /// Base URL, e.g. `https://quay.io` or `http://127.0.0.1:5000`.
    public var endpoint: String
    /// Canonical `host[:port]`, the key for host-addressed proxy paths.
    public var host: String
    public var username: String?
    /// AES-GCM sealed password or token; never leaves the server.
    public var sealedSecret: String?
    /// `password`, `token`, `anonymous` or `access-key` (ECR).
    public var authType: String
    /// The AWS region of an ECR registry.
    public var region: String?
    /// Patterns of upstream repositories customers may pull through this registry; empty: all.
    public var allowedRepositories: [String]
    /// Anyone may pull through this registry without a license (rate-limited per address).
    public var anonymousPull: Bool
    /// Empty means every app of the vendor may use it.
    public var appIDs: [String]
    /// Hosts of token services the vendor approved for this registry besides its own host.
    public var tokenRealms: [String]
    public var createdAt: Date

    public init(id: String = UUID().uuidString.lowercased(), name: String, provider: String, endpoint: String, host: String,
                username: String?, sealedSecret: String?, authType: String, region: String? = nil, allowedRepositories: [String] = [],
                anonymousPull: Bool = false, appIDs: [String], tokenRealms: [String] = [], createdAt: Date = Date()) {
        self.tokenRealms = tokenRealms
        self.id = id
        self.name = name
        self.provider = provider
        self.endpoint = endpoint
        self.host = host
        self.username = username
        self.sealedSecret = sealedSecret
        self.authType = authType
        self.region = region
        self.allowedRepositories = allowedRepositories
        self.anonymousPull = anonymousPull
        self.appIDs = appIDs
        self.createdAt = createdAt
    }
}

public struct CustomerRecord: Sendable, Equatable {
    public var id: String
    public var appID: String
    public var name: String
    public var email: String?
    public var channel: String
    public var type: LicenseType
    public var expiresAt: Date?
    public var archived: Bool
    public var helmInstall: Bool
    /// SHA-256 of the license ID: lookups never need the secret itself.
    public var licenseHash: String
    /// The license ID sealed with the server key, so an admin can retrieve it.
    public var sealedLicense: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String = UUID().uuidString.lowercased(), appID: String, name: String, email: String?, channel: String,
                type: LicenseType, expiresAt: Date?, archived: Bool = false, helmInstall: Bool = true,
                licenseHash: String, sealedLicense: String, createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.id = id
        self.appID = appID
        self.name = name
        self.email = email
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.archived = archived
        self.helmInstall = helmInstall
        self.licenseHash = licenseHash
        self.sealedLicense = sealedLicense
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public func license(appSlug: String) -> License {
        License(customerID: id, appID: appID, appSlug: appSlug, customerName: name, customerEmail: email,
                channel: channel, type: type, expiresAt: expiresAt, archived: archived, helmInstall: helmInstall)
    }
}

/// A tag as last seen upstream.
public struct CachedTag: Sendable, Equatable {
    public var digest: Digest
    public var checkedAt: Date

    public init(digest: Digest, checkedAt: Date) {
        self.digest = digest
        self.checkedAt = checkedAt
    }
}

public struct ManifestRecord: Sendable, Equatable {
    public var digest: Digest
    public var mediaType: String
    public var size: Int64

    public init(digest: Digest, mediaType: String, size: Int64) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
    }
}

/// One registry request by a client, allowed or not.
public struct PullRecord: Sendable, Equatable, Codable {
    public var id: String
    public var at: Date
    public var customerID: String?
    public var appSlug: String?
    public var repository: String
    public var reference: String
    public var action: String
    public var status: Int
    public var bytes: Int64
    /// Why a request was refused; nil when it succeeded.
    public var reason: String?

    public init(id: String = UUID().uuidString.lowercased(), at: Date = Date(), customerID: String?, appSlug: String?,
                repository: String, reference: String, action: String, status: Int, bytes: Int64, reason: String?) {
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

/// Registry requests counted together: one UTC day, customer, repository and refusal reason.
public struct PullDayCount: Sendable, Equatable {
    /// The day's start (UTC).
    public var day: Date
    /// Nil for the vendor's own and anonymous requests.
    public var customerID: String?
    public var appSlug: String?
    public var repository: String
    /// Nil for requests that were served.
    public var reason: String?
    public var requests: Int
    public var refused: Int
    /// Bytes delivered (refused requests deliver none).
    public var bytes: Int64
    public var lastAt: Date

    public init(day: Date, customerID: String?, appSlug: String?, repository: String, reason: String?, requests: Int, refused: Int,
                bytes: Int64, lastAt: Date) {
        self.day = day
        self.customerID = customerID
        self.appSlug = appSlug
        self.repository = repository
        self.reason = reason
        self.requests = requests
        self.refused = refused
        self.bytes = bytes
        self.lastAt = lastAt
    }

    /// The counts of a batch of records, one per (day, customer, app, repository, reason).
    public static func counting(_ records: [PullRecord]) -> [PullDayCount] {
        // Absent and empty are one key, as in the table (a multi-row upsert may name a row once).
        struct Key: Hashable { var day: Int64; var customer: String; var app: String; var repository: String; var reason: String }
        var counts: [Key: PullDayCount] = [:]
        for r in records {
            let refused = r.status >= 400
            let day = Int64(floor(r.at.timeIntervalSince1970 / 86_400))
            let reason = refused ? (r.reason ?? "HTTP \(r.status)") : nil
            let key = Key(day: day, customer: r.customerID ?? "", app: r.appSlug ?? "", repository: r.repository, reason: reason ?? "")
            var count = counts[key] ?? PullDayCount(day: Date(timeIntervalSince1970: Double(day) * 86_400), customerID: r.customerID,
                                                    appSlug: r.appSlug, repository: r.repository, reason: reason, requests: 0, refused: 0,
                                                    bytes: 0, lastAt: r.at)
            count.requests += 1
            count.refused += refused ? 1 : 0
            count.bytes += refused ? 0 : r.bytes
            count.lastAt = max(count.lastAt, r.at)
            counts[key] = count
        }
        return Array(counts.values)
    }
}

public enum StoreError: Error, Equatable, CustomStringConvertible {
    case conflict(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .conflict(let s): s
        case .notFound(let s): s
        }
    }
}
