import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerApps(on api: RouterGroup<PortcullisContext>) {
        route(API.createApp, on: api) { call in
            AppBody(try await control.createApp(slug: call.body.slug, name: call.body.name))
        }
        route(API.apps, on: api) { _ in
            try await control.apps().map(AppBody.init)
        }
    }
}

extension AppBody {
    init(_ r: AppRecord) {
        self.init(id: r.id, slug: r.slug, name: r.name, createdAt: r.createdAt)
    }
}
