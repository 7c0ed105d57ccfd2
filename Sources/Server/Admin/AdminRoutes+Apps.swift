import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerApps(on api: RouterGroup<PortcullisContext>) {
        api.post("/apps") { request, context in
            let body = try await decode(CreateAppRequest.self, request, context)
            return try json(AppBody(try await control.createApp(slug: body.slug, name: body.name)), status: .created)
        }
        api.get("/apps") { _, _ in
            try json(try await control.apps().map(AppBody.init))
        }
    }
}

extension AppBody {
    init(_ r: AppRecord) {
        self.init(id: r.id, slug: r.slug, name: r.name, createdAt: r.createdAt)
    }
}
