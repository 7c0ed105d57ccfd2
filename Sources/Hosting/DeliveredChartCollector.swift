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
///   and every use marks it (a pull by version that finds it in the store, a pull of its
///   manifest by digest, a replica's memory once `ChartDelivery.reconfirmAfter` has passed),
///   so a recipe in use is never forgotten, and a
///   replica that remembers a forgotten one builds it again on its next pull;
/// - the cutoff is at least `minimumIdle` back, far beyond `reconfirmAfter`;
/// - the recipe's build lease and its artifact's lease are held while it goes, so a build of the
///   same recipe, or of another recipe that makes the same bytes, waits and then puts back
///   everything; a recipe found in the store with its layer gone is built again;
/// - the chart's config is left linked (every recipe of the same chart version for that
///   customer shares it, and its bytes are the vendor's copy's), and bytes are deleted only when
///   nothing else holds the digest.
///
/// A failure after a recipe is forgotten (the object store refusing a delete) leaves bytes no
/// record names: storage, never a broken chart.
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
        /// Their blobs whose bytes went; on a dry run, each chart's own layer and manifest (some
        /// of which another recipe building the same bytes may still hold).
        public var deletedBlobs: [Digest] = []
        public var freedBytes: Int64 = 0
        /// Idle charts left alone because a pull was building or using them just then.
        public var inUse = 0
        /// Idle charts that could not be forgotten (the store failed); tried again next time.
        public var failed = 0
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
        try await store.prepareDeliveredChartsForCollection(now: now)
        // Forgotten charts leave the listing; the ones left alone stay at its head, so each
        // batch asks for that many more. Every chart listed is either forgotten or left alone.
        let batch = 500
        var leftAlone = Set<String>()
        while true {
            let limit = batch + leftAlone.count
            let listed = try await store.idleDeliveredCharts(usedBefore: cutoff, limit: limit)
            for chart in listed where !leftAlone.contains(chart.key) {
                do {
                    if try await !forget(chart, cutoff: cutoff, into: &report) { leftAlone.insert(chart.key) }
                } catch {
                    logger.warning("a delivered chart could not be forgotten", metadata: ["digest": "\(chart.digest)", "error": "\(error)"])
                    report.failed += 1
                    leftAlone.insert(chart.key)
                }
            }
            if listed.count < limit { break }
        }
        if report.forgotten > 0 {
            logger.info("delivered charts collected", metadata: ["charts": "\(report.forgotten)", "blobs": "\(report.deletedBlobs.count)",
                                                                  "bytes": "\(report.freedBytes)"])
        }
        return report
    }

    /// Forgets one chart under its recipe's and its artifact's leases; whether it did.
    private func forget(_ chart: IdleDeliveredChart, cutoff: Date, into report: inout Report) async throws -> Bool {
        let held = try await take([ChartDelivery.buildLease(chart.key), ChartDelivery.artifactLease(chart.digest)])
        guard held.count == 2 else {
            await release(held)
            report.inUse += 1
            return false
        }
        do {
            let forgotten = try await forgetHeld(chart, cutoff: cutoff, into: &report)
            await release(held)
            return forgotten
        } catch {
            await release(held)
            throw error
        }
    }

    private func forgetHeld(_ chart: IdleDeliveredChart, cutoff: Date, into report: inout Report) async throws -> Bool {
        // Read before the recipe goes: its manifest names the layer to unlink.
        let own = try await ownBlobs(of: chart)
        guard try await store.forgetDeliveredChart(key: chart.key, usedBefore: cutoff) else {
            report.inUse += 1
            return false
        }
        report.forgotten += 1
        try await store.unlinkDeliveredChart(manifest: chart.digest, parts: own.filter { $0 != chart.digest }, in: chart.place)
        for digest in own {
            guard try await !store.isHeldAnywhere(digest, besidesVendorRepositories: false) else { continue }
            report.freedBytes += try await blobs.size(of: digest) ?? 0
            try await blobs.delete(digest)
            report.deletedBlobs.append(digest)
        }
        return true
    }

    /// Takes the leases in order, stopping at the first someone else holds; the ones taken.
    /// Each lasts five minutes from now, far longer than forgetting one chart takes.
    private func take(_ wanted: [Digest]) async throws -> [Digest] {
        var taken: [Digest] = []
        for lease in wanted {
            let now = Date()
            do {
                guard try await leases.acquireFillLease(lease, holder: holder, until: now.addingTimeInterval(300), now: now) else { break }
            } catch {
                await release(taken)
                throw error
            }
            taken.append(lease)
        }
        return taken
    }

    private func release(_ held: [Digest]) async {
        for lease in held { try? await leases.releaseFillLease(lease, holder: holder) }
    }

    /// The blobs made for this chart alone: its layer (the archive with the customer's values)
    /// and its manifest. A manifest whose bytes are gone leaves only itself.
    private func ownBlobs(of chart: IdleDeliveredChart) async throws -> [Digest] {
        guard let bytes = try await blobs.readAll(chart.digest, limit: manifestLimit),
              let summary = try? ManifestSummary(parsing: bytes.readableBytesView, contentType: nil) else { return [chart.digest] }
        return summary.layers.map(\.digest) + [chart.digest]
    }
}
