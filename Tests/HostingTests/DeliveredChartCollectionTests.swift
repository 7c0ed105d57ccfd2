import Foundation
import Licensing
import Logging
import NIOCore
import OCI
import Storage
import Synchronization
import Testing
@testable import Hosting

/// `gc` forgetting customers' delivered charts that nobody pulls (`DeliveredChartCollector`).
@Suite struct DeliveredChartCollectionTests {
    final class Clock: Sendable {
        private let now: Mutex<Date>
        init(_ start: Date) { now = Mutex(start) }
        func read() -> Date { now.withLock { $0 } }
        func advance(days: Double) { now.withLock { $0 += days * 86400 } }
    }

    struct Fixture {
        let env: Env
        let chart: ReleaseChartRecord
        let clock: Clock
        let t0: Date

        static func make() async throws -> Fixture {
            let env = try await Env.make()
            let archive = try chartArchive(values: "replicas: 1\n")
            let digest = Digest.of(archive)
            try await env.blobs.put(ByteBuffer(bytes: archive), as: digest)
            let t0 = Date()
            return Fixture(env: env, chart: ReleaseChartRecord(releaseID: "r", name: "web", version: "0.5.0", digest: digest, size: Int64(archive.count)),
                           clock: Clock(t0), t0: t0)
        }

        /// A replica's chart delivery (each call another process) over the one store.
        func replica() -> ChartDelivery {
            let clock = clock
            return ChartDelivery(blobs: env.blobs, index: env.store, visibility: env.store, built: env.store, leases: env.store,
                                 clock: { clock.read() })
        }

        var collector: DeliveredChartCollector {
            DeliveredChartCollector(store: env.store, blobs: env.blobs, leases: env.store, logger: Logger(label: "gc"))
        }

        func customer(_ id: String) -> ChartDelivery.Recipient {
            .customer(License(customerID: id, appID: "a", appSlug: "acme", customerName: "C \(id)", customerEmail: "c@x", channel: "Beta",
                              type: .trial, expiresAt: nil, archived: false, helmInstall: true),
                      licenseID: "lic-\(id)", pullSecret: "secret-\(id)", channelName: "Beta", licenseFields: [])
        }

        /// The artifact's manifest, config and layer digests.
        func parts(_ delivered: (ManifestRecord, ByteBuffer)) throws -> (manifest: Digest, config: Digest, layer: Digest) {
            let summary = try ManifestSummary(parsing: delivered.1.readableBytesView, contentType: nil)
            return (delivered.0.digest, try #require(summary.config?.digest), try #require(summary.layers.first?.digest))
        }

        func day(_ n: Double) -> Date { t0.addingTimeInterval(n * 86400) }
        func stored(_ digest: Digest) async throws -> Bool { try await env.blobs.size(of: digest) != nil }
        func linked(_ digest: Digest, for id: String) async throws -> Bool {
            try await env.store.isVisible(digest, in: .chart(.customer(id: id), repository: repository))
        }
        let repository = "acme/beta/web"
    }

    static let month: TimeInterval = 30 * 86400

    @Test func aChartNobodyPullsIsForgottenWithItsOwnBlobsAndBuiltAgainTheSame() async throws {
        let f = try await Fixture.make()
        let built = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        let (manifest, config, layer) = try f.parts(built)

        var report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(29))
        #expect(report.forgotten == 0 && report.deletedBlobs.isEmpty, "pulled 29 days ago: kept")

        report = try await f.collector.collect(unusedFor: Self.month, dryRun: true, now: f.day(31))
        #expect(report.forgotten == 1 && Set(report.deletedBlobs) == [manifest, layer])
        #expect(try await f.stored(layer), "a dry run deletes nothing")
        #expect(try await f.stored(manifest))

        report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31))
        #expect(report.forgotten == 1 && Set(report.deletedBlobs) == [manifest, layer] && report.freedBytes > 0)
        #expect(try await !f.stored(layer), "the bytes made for this customer alone are gone")
        #expect(try await !f.stored(manifest))
        #expect(try await !f.linked(layer, for: "1"))
        #expect(try await !f.linked(manifest, for: "1"))
        #expect(try await f.env.store.manifest(manifest) == nil)
        #expect(try await f.stored(config), "the chart's config stays: other recipes share it")
        #expect(try await f.linked(config, for: "1"))
        #expect(try await f.stored(f.chart.digest), "the released chart is the vendor's")

        // The next pull, on any replica, builds the same bytes under the same digests.
        f.clock.advance(days: 31)
        let again = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        #expect(again.0.digest == manifest && again.1 == built.1)
        #expect(try await f.stored(layer))
        #expect(try await f.linked(layer, for: "1"))
        #expect(try await f.linked(manifest, for: "1"))
        try await f.env.close()
    }

    @Test func aChartPulledWithinTheIdleTimeStaysAndOnlyTheIdleOneGoes() async throws {
        let f = try await Fixture.make()
        let replica = f.replica()
        let pulled = try f.parts(try await replica.artifact(f.chart, repository: f.repository, for: f.customer("1")))
        let idle = try f.parts(try await replica.artifact(f.chart, repository: f.repository, for: f.customer("2")))
        #expect(pulled.config == idle.config && pulled.layer != idle.layer)

        // Twenty days on, customer 1 pulls again: the replica remembers the recipe, but long
        // past `reconfirmAfter`, so it marks it used in the store.
        f.clock.advance(days: 20)
        _ = try await replica.artifact(f.chart, repository: f.repository, for: f.customer("1"))

        let report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31))
        #expect(report.forgotten == 1 && Set(report.deletedBlobs) == [idle.manifest, idle.layer])
        for digest in [pulled.layer, pulled.manifest, pulled.config] {
            #expect(try await f.stored(digest))
            #expect(try await f.linked(digest, for: "1"))
        }
        #expect(try await replica.isDelivered(pulled.layer, repository: f.repository, to: f.customer("1").audience))
        #expect(try await !f.stored(idle.layer))
        try await f.env.close()
    }

    /// A replica that still remembers a recipe `gc` forgot does not serve the memory: past
    /// `reconfirmAfter` it asks the store, finds nothing, and builds it again.
    @Test func aReplicaRememberingAForgottenChartBuildsItAgain() async throws {
        let f = try await Fixture.make()
        let a = f.replica(), b = f.replica()
        let built = try await a.artifact(f.chart, repository: f.repository, for: f.customer("1"))
        _ = try await b.artifact(f.chart, repository: f.repository, for: f.customer("1"))
        let (manifest, _, layer) = try f.parts(built)

        #expect(try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31)).forgotten == 1)
        #expect(try await !f.stored(layer))
        f.clock.advance(days: 31)
        let again = try await b.artifact(f.chart, repository: f.repository, for: f.customer("1"))
        #expect(again.0.digest == manifest)
        #expect(try await f.stored(layer), "built again, not served from memory")
        #expect(try await f.stored(manifest))
        #expect(try await f.linked(layer, for: "1"))
        #expect(try await f.env.store.useDeliveredChart(key: f.customer("1").recipeKey(chart: f.chart.digest, repository: f.repository,
                                                                                         placement: nil), at: f.day(31)) != nil)
        try await f.env.close()
    }

    @Test func aChartWhoseBuildLeaseIsHeldIsLeftAlone() async throws {
        let f = try await Fixture.make()
        let built = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        let key = f.customer("1").recipeKey(chart: f.chart.digest, repository: f.repository, placement: nil)
        #expect(try await f.env.store.acquireFillLease(ChartDelivery.buildLease(key), holder: "another-replica", until: f.day(40), now: f.day(31)))

        let report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31))
        #expect(report.forgotten == 0 && report.inUse == 1)
        #expect(try await f.stored(try f.parts(built).layer))
        try await f.env.close()
    }

    @Test func vendorsChartsAreNeverCollectedAndTheIdleTimeHasAFloor() async throws {
        let f = try await Fixture.make()
        let vendor = try await f.replica().artifact(f.chart, repository: f.repository, for: .vendor)
        let report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(365))
        #expect(report.forgotten == 0)
        #expect(try await f.stored(vendor.0.digest))
        #expect(try await f.stored(f.chart.digest))
        await #expect(throws: GarbageCollectionError.self) {
            try await f.collector.collect(unusedFor: 60, dryRun: true, now: f.day(1))
        }
        try await f.env.close()
    }
}
