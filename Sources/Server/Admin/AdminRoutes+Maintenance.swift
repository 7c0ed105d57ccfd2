import Hosting
import Hummingbird
import PortcullisAPI

extension AdminRoutes {
    func registerMaintenance(on api: RouterGroup<PortcullisContext>) {
        route(API.collectGarbage, on: api) { call in
            let body = call.body
            let grace = body.graceSeconds ?? 3600, longest = GarbageCollectionRequest.longestSeconds
            guard (0...longest).contains(grace) else {
                throw HTTPError(.badRequest, message: "graceSeconds must be between 0 and \(longest)")
            }
            let chartIdle = body.chartsUnusedForSeconds ?? 30 * 86400
            guard (Int(DeliveredChartCollector.minimumIdle)...longest).contains(chartIdle) else {
                throw HTTPError(.badRequest, message: "chartsUnusedForSeconds must be at least \(Int(DeliveredChartCollector.minimumIdle)) and at most \(longest)")
            }
            let report = try await collector.collect(grace: Double(grace), dryRun: body.dryRun)
            let charts = try await chartCollector.collect(unusedFor: Double(chartIdle), dryRun: body.dryRun)
            return GarbageCollectionBody(report, charts: charts)
        }
        // `?platform=os/arch` (repeatable) narrows images.
        respond(API.bundle, on: api) { call in
            guard let customerID = call.query("customer") else {
                throw AdminError.badRequest("say which customer the bundle is for: ?customer=ID")
            }
            let view = try await control.customer(id: customerID)
            guard view.app.slug == (try call.parameter("app")) else {
                throw AdminError.badRequest("customer \(customerID) is a customer of \(view.app.slug)")
            }
            return try await BundleRoutes(c: c).respond(call.request, app: view.app, sequence: try call.parameter("sequence"),
                                                        customer: view.customer, forVendor: true)
        }
        route(API.cache, on: api) { _ in
            let status = try await evictor.status()
            return CacheStatusBody(bytes: status.bytes, limitBytes: status.limit)
        }
    }
}

extension GarbageCollectionBody {
    init(_ report: GarbageCollectionReport, charts: DeliveredChartCollector.Report) {
        self.init(dryRun: report.dryRun,
                  unreferenced: report.unreferencedLinks.map { Claim(repository: $0.repository, digest: $0.digest.description) },
                  deletedBlobs: (report.deletedBlobs + charts.deletedBlobs).map(\.description), freedBytes: report.freedBytes + charts.freedBytes,
                  keptInGrace: report.keptInGrace, forgottenCharts: charts.forgotten)
    }
}
