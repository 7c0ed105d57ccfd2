import Licensing
import Storage

extension ControlPlane {
    public func createApp(slug: String, name: String?) async throws -> AppRecord {
        try validateSlug(slug, "app slug")
        if let name { try Self.checkName(name, "app name") }
        let app = AppRecord(slug: slug, name: name ?? slug)
        try await normalized {
            try await store.createApp(app)
            try await catalog.createDefaultChannels(appID: app.id)
        }
        logger.info("app created", metadata: ["app": "\(app.slug)"])
        return app
    }

    public func apps() async throws -> [AppRecord] {
        try await store.apps()
    }

    /// An app by slug or, as `app ls` shows both and the vendor CLIs people know take either, by ID.
    public func app(slug: String) async throws -> AppRecord {
        if let app = try await store.app(slug: slug) { return app }
        if let app = try await store.app(id: slug) { return app }
        throw ControlPlaneError.notFound("app \(slug) not found (apps are named by slug or ID; `portcullis app ls` lists them)")
    }

    func validateSlug(_ text: String, _ what: String) throws {
        do { try Slug.validate(text, what: what) } catch { throw ControlPlaneError.invalid(error.message) }
    }
}
