import Foundation
import OCI

public protocol AppStore: Sendable {
    func createApp(_ app: AppRecord) async throws
    func apps() async throws -> [AppRecord]
    func app(slug: String) async throws -> AppRecord?
    func app(id: String) async throws -> AppRecord?
}

public protocol RegistryStore: Sendable {
    func createRegistry(_ registry: RegistryRecord) async throws
    func registries() async throws -> [RegistryRecord]
    func registry(name: String) async throws -> RegistryRecord?
    func deleteRegistry(name: String) async throws -> Bool
    /// Replaces a registry's login (`registry update`); false when there is no such registry.
    func updateRegistryLogin(name: String, username: String?, sealedSecret: String?, authType: String) async throws -> Bool
}

public protocol CustomerStore: Sendable {
    func createCustomer(_ customer: CustomerRecord) async throws
    func customers(appID: String?) async throws -> [CustomerRecord]
    func customer(id: String) async throws -> CustomerRecord?
    func customer(licenseHash: String) async throws -> CustomerRecord?
    func updateCustomer(_ customer: CustomerRecord) async throws
}

/// What the pull-through cache knows about upstream content.
public protocol ProxyIndex: Sendable {
    func tag(registryID: String, repository: String, tag: String) async throws -> CachedTag?
    func putTag(registryID: String, repository: String, tag: String, _ value: CachedTag) async throws
    func manifest(_ digest: Digest) async throws -> ManifestRecord?
    func putManifest(_ record: ManifestRecord) async throws
}

/// Which repositories may serve which blobs of the shared store (see `BlobVisibility`).
public protocol BlobVisibilityIndex: Sendable {
    func isVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool
    func makeVisible(_ digest: Digest, in visibility: BlobVisibility) async throws
    /// Whether the blob is visible there, renewing the claim so that garbage collection's
    /// grace period starts again (a manifest being pushed names it).
    func renewVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool
    /// Returns false when the blob was not visible there.
    func hide(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool
}

public protocol PullLog: Sendable {
    /// Keeps the records and adds them to the per-day counts.
    func record(_ pulls: [PullRecord]) async throws
    /// Adds to the per-day counts without raw records (refusals of callers who proved nothing).
    func addDayCounts(_ counts: [PullDayCount]) async throws
    func pulls(customerID: String, limit: Int) async throws -> [PullRecord]
    /// Per-day counts from `since` on, of one customer or (nil) of all traffic; they outlive raw records.
    func pullCounts(customerID: String?, since: Date) async throws -> [PullDayCount]
    /// Drops raw records older than `cutoff` (their counts stay); returns how many went.
    func deletePulls(before cutoff: Date) async throws -> Int
}

/// Everything the server keeps in its database.
public typealias MetadataStore = AppStore & RegistryStore & CustomerStore & ProxyIndex & BlobVisibilityIndex & PullLog & DomainStore & PublicRepositoryStore & PortalStore & WebhookStore & LicenseFieldStore
    & VendorTokenStore & ReleaseStore & HostedRepositoryStore & SigningKeyStore & FillLeaseStore & LoginFailureStore
    & UploadSessionStore & CacheEntryStore & HostedCollectionStore & BundleStore & DeliveredChartStore & InstanceStore
