import Foundation
import OCI

/// A vendor API token: pushes images, creates releases' content, pulls original charts.
public struct VendorTokenRecord: Sendable, Equatable {
    public enum Scope: String, Sendable, Codable { case read, push }

    public var id: String
    public var name: String
    public var tokenHash: String
    public var scope: Scope
    public var createdAt: Date

    public init(id: String = UUID().uuidString.lowercased(), name: String, tokenHash: String, scope: Scope, createdAt: Date = Date()) {
        self.id = id
        self.name = name
        self.tokenHash = tokenHash
        self.scope = scope
        self.createdAt = createdAt
    }
}

public struct ChannelRecord: Sendable, Equatable {
    public var id: String
    public var appID: String
    public var name: String
    /// Lowercase path segment: `oci://host/<app>/<slug>/<chart>`.
    public var slug: String
    public var createdAt: Date

    public init(id: String = UUID().uuidString.lowercased(), appID: String, name: String, slug: String, createdAt: Date = Date()) {
        self.id = id
        self.appID = appID
        self.name = name
        self.slug = slug
        self.createdAt = createdAt
    }
}

public struct ReleaseRecord: Sendable, Equatable {
    public var id: String
    public var appID: String
    public var sequence: Int
    public var version: String
    public var notes: String?
    public var createdAt: Date
    public var editedAt: Date?

    public init(id: String = UUID().uuidString.lowercased(), appID: String, sequence: Int = 0, version: String, notes: String?,
                createdAt: Date = Date(), editedAt: Date? = nil) {
        self.id = id
        self.appID = appID
        self.sequence = sequence
        self.version = version
        self.notes = notes
        self.createdAt = createdAt
        self.editedAt = editedAt
    }
}

/// One chart archive in a release, stored as a blob by digest.
public struct ReleaseChartRecord: Sendable, Equatable {
    public var releaseID: String
    public var name: String
    public var version: String
    public var digest: Digest
    public var size: Int64

    public init(releaseID: String, name: String, version: String, digest: Digest, size: Int64) {
        self.releaseID = releaseID
        self.name = name
        self.version = version
        self.digest = digest
        self.size = size
    }
}

public struct PromotionRecord: Sendable, Equatable {
    public var id: String
    public var channelID: String
    public var releaseID: String
    public var version: String
    public var notes: String?
    public var promotedAt: Date

    public init(id: String = UUID().uuidString.lowercased(), channelID: String, releaseID: String, version: String, notes: String?,
                promotedAt: Date = Date()) {
        self.id = id
        self.channelID = channelID
        self.releaseID = releaseID
        self.version = version
        self.notes = notes
        self.promotedAt = promotedAt
    }
}

public protocol VendorTokenStore: Sendable {
    func createVendorToken(_ token: VendorTokenRecord) async throws
    func vendorTokens() async throws -> [VendorTokenRecord]
    func vendorToken(hash: String) async throws -> VendorTokenRecord?
    func deleteVendorToken(id: String) async throws -> Bool
}

public protocol ReleaseStore: Sendable {
    func createChannel(_ channel: ChannelRecord) async throws
    func channels(appID: String) async throws -> [ChannelRecord]
    /// Stores a release with the next sequence number of its app, which it returns.
    func createRelease(_ release: ReleaseRecord, charts: [ReleaseChartRecord]) async throws -> Int
    func releases(appID: String) async throws -> [ReleaseRecord]
    func releaseCharts(appID: String) async throws -> [ReleaseChartRecord]
    func promote(_ promotion: PromotionRecord) async throws
    /// Every promotion of the app's channels, oldest first.
    func promotions(appID: String) async throws -> [PromotionRecord]
}

/// A manifest's place in the referrers index of its repository: what it refers to and how it
/// describes itself.
public struct ReferrerFacts: Sendable, Equatable {
    public var subject: Digest
    public var artifactType: String?
    public var annotations: [String: String]?

    public init(subject: Digest, artifactType: String?, annotations: [String: String]?) {
        self.subject = subject
        self.artifactType = artifactType
        self.annotations = annotations
    }
}

/// Manifests and tags of repositories vendors push to (blob visibility is in `BlobVisibilityIndex`).
public protocol HostedRepositoryStore: Sendable {
    func putRepositoryManifest(_ repository: String, _ record: ManifestRecord, referrer: ReferrerFacts?) async throws
    /// Manifests of `repository` whose `subject` is `subject`.
    func referrers(_ repository: String, subject: Digest) async throws -> [ReferrersIndex.Entry]
    func repositoryManifest(_ repository: String, _ digest: Digest) async throws -> ManifestRecord?
    /// Removes a manifest and every tag pointing at it.
    func deleteRepositoryManifest(_ repository: String, _ digest: Digest) async throws -> Bool
    func putRepositoryTag(_ repository: String, _ tag: String, _ digest: Digest) async throws
    func repositoryTag(_ repository: String, _ tag: String) async throws -> Digest?
    func deleteRepositoryTag(_ repository: String, _ tag: String) async throws -> Bool
    func repositoryTags(_ repository: String) async throws -> [String]
}
