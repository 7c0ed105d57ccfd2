import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerRegistries(on api: RouterGroup<PortcullisContext>) {
        route(API.addRegistry, on: api) { call in
            let body = call.body
            var draft = RegistryDraft(
                provider: body.provider, endpoint: body.endpoint, name: body.name, username: body.username, secret: body.secret,
                authType: body.authType, region: body.region, anonymous: body.anonymous ?? false, allow: body.allow ?? [],
                anonymousPull: body.anonymousPull ?? false, apps: body.apps ?? [])
            draft.tokenRealms = body.tokenRealms ?? []
            let (record, warning) = try await control.addRegistry(draft, verify: body.verify ?? true)
            var answer = try await registryBody(record)
            answer.warning = warning
            return answer
        }
        route(API.registries, on: api) { _ in
            var out: [RegistryBody] = []
            for record in try await control.registries() { out.append(try await registryBody(record)) }
            return out
        }
        route(API.updateRegistry, on: api) { call in
            let body = call.body
            let (record, warning) = try await control.updateRegistryLogin(name: try call.parameter("name"), username: body.username,
                                                                          secret: body.secret, authType: body.authType,
                                                                          verify: body.verify ?? true)
            var answer = try await registryBody(record)
            answer.warning = warning
            return answer
        }
        route(API.removeRegistry, on: api) { call in
            try await control.removeRegistry(name: try call.parameter("name"))
            return Nothing()
        }
        route(API.publicRepositories, on: api) { _ in
            try await control.publicRepositories().map(PublicRepositoryBody.init)
        }
        route(API.makeRepositoryPublic, on: api) { call in
            try await control.setRepositoryPublic(call.body.name, true)
            return call.body
        }
        route(API.makeRepositoryPrivate, on: api) { call in
            guard let name = call.query("name") else { throw AdminError.badRequest("missing query parameter name") }
            try await control.setRepositoryPublic(name, false)
            return Nothing()
        }
        route(API.testRegistry, on: api) { call in
            let (outcome, message) = try await control.testRegistry(name: try call.parameter("name"), image: call.body.image)
            return TestRegistryResult(result: outcome.rawValue, message: message)
        }
    }

    private func registryBody(_ r: RegistryRecord) async throws -> RegistryBody {
        RegistryBody(name: r.name, provider: r.provider, endpoint: r.endpoint, username: r.username, authType: r.authType,
                     region: r.region, allow: r.allowedRepositories, anonymousPull: r.anonymousPull, apps: try await control.appSlugs(of: r),
                     tokenRealms: r.tokenRealms.isEmpty ? nil : r.tokenRealms, createdAt: r.createdAt)
    }
}
