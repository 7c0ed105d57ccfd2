import Hosting
import Hummingbird
import PortcullisAPI

extension AdminRoutes {
    func registerMaintenance(on api: RouterGroup<PortcullisContext>) {
        api.post("/gc") { request, context in
            let body = try await decode(GarbageCollectionRequest.self, request, context)
            let grace = body.graceSeconds ?? 3600
            guard grace >= 0 else { throw HTTPError(.badRequest, message: "graceSeconds must not be negative") }
            let report = try await collector.collect(grace: Double(grace), dryRun: body.dryRun)
            return try json(GarbageCollectionBody(report))
        }
        // An air-gap bundle of a release for one customer; `?platform=os/arch` (repeatable) narrows images.
        api.get("/apps/:app/releases/:sequence/bundle") { request, context in
            guard let customerID = request.uri.queryParameters["customer"].map(String.init) else {
                throw AdminError.badRequest("say which customer the bundle is for: ?customer=ID")
            }
            let view = try await control.customer(id: customerID)
            guard view.app.slug == (try context.parameters.require("app")) else {
                throw AdminError.badRequest("customer \(customerID) is a customer of \(view.app.slug)")
            }
            return try await BundleRoutes(c: c).respond(request, app: view.app, sequence: try context.parameters.require("sequence"),
                                                        customer: view.customer)
        }
        api.get("/cache") { _, _ in
            let status = try await evictor.status()
            return try json(CacheStatusBody(bytes: status.bytes, limitBytes: status.limit))
        }
    }
}

extension GarbageCollectionBody {
    init(_ report: GarbageCollectionReport) {
        self.init(dryRun: report.dryRun,
                  unreferenced: report.unreferencedLinks.map { Claim(repository: $0.repository, digest: $0.digest.description) },
                  deletedBlobs: report.deletedBlobs.map(\.description), freedBytes: report.freedBytes, keptInGrace: report.keptInGrace)
    }
}
