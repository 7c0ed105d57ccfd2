import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerRegistries(on api: RouterGroup<PortcullisContext>) {
        api.post("/registries") { request, context in
            let body = try await decode(CreateRegistryRequest.self, request, context)
            var draft = RegistryDraft(
                provider: body.provider, endpoint: body.endpoint, name: body.name, username: body.username, secret: body.secret,
                authType: body.authType, region: body.region, anonymous: body.anonymous ?? false, allow: body.allow ?? [],
                anonymousPull: body.anonymousPull ?? false, apps: body.apps ?? [])
            draft.tokenRealms = body.tokenRealms ?? []
            let record = try await control.addRegistry(draft)
            return try json(try await registryBody(record), status: .created)
        }
        api.get("/registries") { _, _ in
            var out: [RegistryBody] = []
            for record in try await control.registries() { out.append(try await registryBody(record)) }
            return try json(out)
        }
        api.delete("/registries/:name") { _, context in
            try await control.removeRegistry(name: try context.parameters.require("name"))
            return Response(status: .noContent)
        }
        api.get("/public-repositories") { _, _ in
            try json(try await control.publicRepositories().map(PublicRepositoryBody.init))
        }
        api.post("/public-repositories") { request, context in
            let body = try await decode(PublicRepositoryBody.self, request, context)
            try await control.setRepositoryPublic(body.name, true)
            return try json(body, status: .created)
        }
        api.delete("/public-repositories") { request, _ in
            guard let name = request.uri.queryParameters["name"] else { throw AdminError.badRequest("missing query parameter name") }
            try await control.setRepositoryPublic(String(name), false)
            return Response(status: .noContent)
        }
        api.post("/registries/:name/test") { request, context in
            let name = try context.parameters.require("name")
            let body = try await decode(TestRegistryRequest.self, request, context)
            let (outcome, message) = try await control.testRegistry(name: name, image: body.image)
            return try json(TestRegistryResult(result: outcome.rawValue, message: message))
        }
    }

    private func registryBody(_ r: RegistryRecord) async throws -> RegistryBody {
        RegistryBody(name: r.name, provider: r.provider, endpoint: r.endpoint, username: r.username, authType: r.authType,
                     region: r.region, allow: r.allowedRepositories, anonymousPull: r.anonymousPull, apps: try await control.appSlugs(of: r),
                     tokenRealms: r.tokenRealms.isEmpty ? nil : r.tokenRealms, createdAt: r.createdAt)
    }
}
