import Foundation

public struct GarbageCollectionRequest: Codable, Sendable {
    public var dryRun: Bool
    /// Unreferenced blobs pushed less than this many seconds ago are kept (pushes under way).
    public var graceSeconds: Int?
    /// Customers' delivered charts not pulled for this many seconds are forgotten (built again,
    /// identically, on their next pull); default 30 days, at least an hour.
    public var chartsUnusedForSeconds: Int?
    /// The longest either time may be (`DurationLimit`).
    public static let longestSeconds = Int(DurationLimit.longest)

    public init(dryRun: Bool, graceSeconds: Int?, chartsUnusedForSeconds: Int? = nil) {
        self.dryRun = dryRun
        self.graceSeconds = graceSeconds
        self.chartsUnusedForSeconds = chartsUnusedForSeconds
    }
}

public struct GarbageCollectionBody: Codable, Sendable, Equatable {
    public struct Claim: Codable, Sendable, Equatable {
        public var repository: String
        public var digest: String

        public init(repository: String, digest: String) {
            self.repository = repository
            self.digest = digest
        }
    }

    public var dryRun: Bool
    /// Blobs of vendor repositories no manifest there references (removed from the repository).
    public var unreferenced: [Claim]
    /// Blobs whose bytes were deleted because nothing else holds them.
    public var deletedBlobs: [String]
    public var freedBytes: Int64
    /// Unreferenced blobs kept because they were pushed within the grace period.
    public var keptInGrace: Int
    /// Customers' delivered charts forgotten because nobody pulled them for `chartsUnusedForSeconds`
    /// (their blobs are among `deletedBlobs`); absent from servers older than this field.
    public var forgottenCharts: Int?

    public init(dryRun: Bool, unreferenced: [Claim], deletedBlobs: [String], freedBytes: Int64, keptInGrace: Int, forgottenCharts: Int? = nil) {
        self.dryRun = dryRun
        self.unreferenced = unreferenced
        self.deletedBlobs = deletedBlobs
        self.freedBytes = freedBytes
        self.keptInGrace = keptInGrace
        self.forgottenCharts = forgottenCharts
    }
}

/// The proxy cache's size against its limit.
public struct CacheStatusBody: Codable, Sendable, Equatable {
    public var bytes: Int64
    /// Nil when the cache is unbounded.
    public var limitBytes: Int64?

    public init(bytes: Int64, limitBytes: Int64?) {
        self.bytes = bytes
        self.limitBytes = limitBytes
    }
}
