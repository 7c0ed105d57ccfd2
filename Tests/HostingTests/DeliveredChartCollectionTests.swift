import Foundation
import Licensing
import Logging
import NIOCore
import OCI
import RegistryCore
import SQLKit
@testable import Storage
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

        /// With `sdk`, the recipe also says what the SDK subchart would be told: another key, and
        /// for this chart (which has no SDK subchart) the same bytes.
        func customer(_ id: String, sdk: Bool = false) -> ChartDelivery.Recipient {
            .customer(License(customerID: id, appID: "a", appSlug: "acme", customerName: "C \(id)", customerEmail: "c@x", channel: "Beta",
                              type: .trial, expiresAt: nil, archived: false, helmInstall: true),
                      licenseID: "lic-\(id)", pullSecret: "secret-\(id)", channelName: "Beta", licenseFields: [],
                      sdk: sdk ? ChartDelivery.SDKFacts(licenseDocument: "doc", publicKeyPEM: "pem", appName: "Acme",
                                                        endpoint: "https://r.example", host: "r.example") : nil)
        }

        /// The repository as customer `id` pulls it through a replica.
        func repository(_ replica: ChartDelivery, for id: String) throws -> DeliveredChartRepository {
            DeliveredChartRepository(name: try RepositoryName(parsing: repository),
                                     chart: ChartRepository(appID: "a", channel: ChannelRecord(appID: "a", name: "Beta", slug: "beta"),
                                                            chart: "web", versions: [chart.version: chart]),
                                     audience: .customer(id: id), recipient: { customer(id) }, delivery: replica, manifestLimit: 1 << 20)
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

    /// Two recipes that build the same bytes: forgetting the idle one leaves the other's links,
    /// records and bytes, and a build of either while `gc` holds the artifact waits for it.
    @Test func aRecipeSharingItsBytesWithAnotherInUseTakesNothingOfTheOthers() async throws {
        let f = try await Fixture.make()
        let replica = f.replica()
        let idle = try await replica.artifact(f.chart, repository: f.repository, for: f.customer("1"))
        let used = try await replica.artifact(f.chart, repository: f.repository, for: f.customer("1", sdk: true))
        #expect(idle.0.digest == used.0.digest, "the chart has no SDK subchart: the same bytes")
        let (manifest, config, layer) = try f.parts(used)

        f.clock.advance(days: 20)
        _ = try await replica.artifact(f.chart, repository: f.repository, for: f.customer("1", sdk: true))
        let report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31))
        #expect(report.forgotten == 1 && report.deletedBlobs.isEmpty)
        for digest in [manifest, config, layer] {
            #expect(try await f.stored(digest))
            #expect(try await f.linked(digest, for: "1"))
        }
        #expect(try await f.env.store.manifest(manifest) != nil)
        try await f.env.close()
    }

    @Test func aChartWhoseArtifactIsBeingWrittenIsLeftAlone() async throws {
        let f = try await Fixture.make()
        let built = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        #expect(try await f.env.store.acquireFillLease(ChartDelivery.artifactLease(built.0.digest), holder: "a-build-elsewhere",
                                                       until: Date().addingTimeInterval(600), now: Date()))
        let report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31))
        #expect(report.forgotten == 0 && report.inUse == 1)
        #expect(try await f.stored(try f.parts(built).layer))
        // The recipe's own lease was let go: once the artifact is free, the chart goes.
        try await f.env.store.releaseFillLease(ChartDelivery.artifactLease(built.0.digest), holder: "a-build-elsewhere")
        #expect(try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31)).forgotten == 1)
        try await f.env.close()
    }

    /// A recipe in the store whose layer went (whatever took it) is built again, not served.
    @Test func aKeptRecipeMissingItsLayerIsBuiltAgain() async throws {
        let f = try await Fixture.make()
        let built = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        let layer = try f.parts(built).layer
        try await f.env.blobs.delete(layer)
        let again = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        #expect(again.0.digest == built.0.digest)
        #expect(try await f.stored(layer))
        try await f.env.close()
    }

    /// Clients that pin a chart by digest pull its manifest by digest: that keeps it too.
    @Test func aPullByDigestKeepsTheChart() async throws {
        let f = try await Fixture.make()
        let replica = f.replica()
        let repository = try f.repository(replica, for: "1")
        let byTag = try await repository.manifest(.tag(f.chart.version), wantBody: true)
        f.clock.advance(days: 20)
        let byDigest = try await repository.manifest(.digest(byTag.record.digest), wantBody: true)
        #expect(byDigest.record.digest == byTag.record.digest)
        #expect(try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(31)).forgotten == 0)
        #expect(try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(51)).forgotten == 1)
        try await f.env.close()
    }

    /// Recipes recorded before this version have no place and no last use: the first collection
    /// gives them both (the place from their links) and counts their idle time from then.
    @Test func recipesFromAnOlderVersionAreForgottenOnlyAfterBeingIdleFromNowOn() async throws {
        let f = try await Fixture.make()
        let built = try await f.replica().artifact(f.chart, repository: f.repository, for: f.customer("1"))
        try await f.env.store.db.raw("UPDATE delivered_charts SET place = NULL, repository = NULL, used_at = NULL").run()
        #expect(try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(100)).forgotten == 0)
        let report = try await f.collector.collect(unusedFor: Self.month, dryRun: false, now: f.day(131))
        #expect(report.forgotten == 1 && report.deletedBlobs.contains(built.0.digest))
        try await f.env.close()
    }
}
