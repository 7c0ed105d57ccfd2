import Foundation
import Logging
import OCI
import Storage

/// Forgets customers' delivered charts that nobody has pulled for a while, and the bytes only
/// they held.
///
/// Each customer gets an artifact per recipe (the chart, the repository, every value injected),
/// and a new one whenever what is injected changes: every license edit, release and host makes
/// more, for every customer, and none is ever pulled again once it is superseded. Forgetting
/// one loses nothing: a build is deterministic, so the next pull of the same recipe makes the
/// same bytes under the same digests.
///
/// What keeps it safe against pulls on any replica at the same time:
/// - a recipe is forgotten only while it is still unused since the cutoff, in one statement,
///   and every use marks it (a pull that finds it in the store, or a replica's memory once
///   `ChartDelivery.reconfirmAfter` has passed), so a recipe in use is never forgotten, and a
///   replica that remembers a forgotten one builds it again on its next pull;
/// - the cutoff is at least `minimumIdle` back, far beyond `reconfirmAfter`;
/// - the recipe's build lease is held while it goes, so a build of the same recipe waits and
///   then puts back everything;
/// - the chart's config is left linked (every recipe of the same chart version for that
///   customer shares it, and it is a few hundred bytes), and bytes are deleted only when
///   nothing else holds the digest.
public struct DeliveredChartCollector: Sendable {
    /// The shortest idle time a collection accepts: well beyond how long a replica serves a
    /// remembered recipe without marking it used.
    public static let minimumIdle: TimeInterval = 3600

    let store: any DeliveredChartStore & HostedCollectionStore
    let blobs: any BlobStore
    let leases: any FillLeaseStore
    let manifestLimit: Int
    let logger: Logger
    private let holder = "chart-collector-" + UUID().uuidString.lowercased()

    public init(store: any DeliveredChartStore & HostedCollectionStore, blobs: any BlobStore, leases: any FillLeaseStore,
                manifestLimit: Int = 4 << 20, logger: Logger) {
        self.store = store
        self.blobs = blobs
        self.leases = leases
        self.manifestLimit = manifestLimit
        self.logger = logger
    }

    public struct Report: Sendable, Equatable {
        /// Customers' charts forgotten (or that would be, on a dry run).
        public var forgotten = 0
        /// Their blobs whose bytes went (or would go).
        public var deletedBlobs: [Digest] = []
        public var freedBytes: Int64 = 0
        /// Idle charts left alone because a pull was building or using them just then.
        public var inUse = 0
    }

    /// Forgets customers' charts last delivered more than `idle` before `now`.
    public func collect(unusedFor idle: TimeInterval, dryRun: Bool, now: Date = Date()) async throws -> Report {
        guard idle >= Self.minimumIdle else {
            throw GarbageCollectionError("delivered charts are kept for at least \(Int(Self.minimumIdle)) s after their last pull")
        }
        let cutoff = now.addingTimeInterval(-idle)
        var report = Report()
        if dryRun {
            for chart in try await store.idleDeliveredCharts(usedBefore: cutoff, limit: 100_000) {
                report.forgotten += 1
                for digest in try await ownBlobs(of: chart) {
                    report.deletedBlobs.append(digest)
                    report.freedBytes += try await blobs.size(of: digest) ?? 0
                }
            }
            return report
        }
        let batch = 500
        var passed = Set<String>()
        while true {
            let idleCharts = try await store.idleDeliveredCharts(usedBefore: cutoff, limit: batch + passed.count)
                .filter { !passed.contains($0.key) }
            for chart in idleCharts {
                passed.insert(chart.key)
                try await forget(chart, cutoff: cutoff, now: now, into: &report)
            }
            if idleCharts.count < batch { break }
        }
        if report.forgotten > 0 {
            logger.info("delivered charts collected", metadata: ["charts": "\(report.forgotten)", "blobs": "\(report.deletedBlobs.count)",
                                                                  "bytes": "\(report.freedBytes)"])
        }
        return report
    }

    private func forget(_ chart: IdleDeliveredChart, cutoff: Date, now: Date, into report: inout Report) async throws {
        let lease = ChartDelivery.buildLease(chart.key)
        guard try await leases.acquireFillLease(lease, holder: holder, until: now.addingTimeInterval(60), now: now) else {
            report.inUse += 1
            return
        }
        do {
            // Read before the recipe goes: its manifest names the layer to unlink.
            let own = try await ownBlobs(of: chart)
            if try await store.forgetDeliveredChart(key: chart.key, usedBefore: cutoff) {
                report.forgotten += 1
                try await store.unlinkDeliveredChart(manifest: chart.digest, parts: own.filter { $0 != chart.digest }, in: chart.place)
                for digest in own {
                    guard try await !store.isHeldAnywhere(digest, besidesVendorRepositories: false) else { continue }
                    report.freedBytes += try await blobs.size(of: digest) ?? 0
                    try await blobs.delete(digest)
                    report.deletedBlobs.append(digest)
                }
            } else {
                report.inUse += 1
            }
        } catch {
            try? await leases.releaseFillLease(lease, holder: holder)
            throw error
        }
        try await leases.releaseFillLease(lease, holder: holder)
    }

    /// The blobs made for this chart alone: its layer (the archive with the customer's values)
    /// and its manifest. A manifest whose bytes are gone leaves only itself.
    private func ownBlobs(of chart: IdleDeliveredChart) async throws -> [Digest] {
        guard let bytes = try await blobs.readAll(chart.digest, limit: manifestLimit),
              let summary = try? ManifestSummary(parsing: bytes.readableBytesView, contentType: nil) else { return [chart.digest] }
        return summary.layers.map(\.digest) + [chart.digest]
    }
}
