import ControlPlane
import Hosting
import Hummingbird
import OCI
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerReleases(on api: RouterGroup<PortcullisContext>) {
        api.get("/apps/:app/channels") { _, context in
            let app = try context.parameters.require("app")
            return try json(try await control.channels(appSlug: app).map { ChannelBody($0, app: app) })
        }
        api.post("/apps/:app/channels") { request, context in
            let app = try context.parameters.require("app")
            let body = try await decode(CreateChannelRequest.self, request, context)
            return try json(ChannelBody(try await control.createChannel(appSlug: app, name: body.name), app: app), status: .created)
        }
        api.post("/apps/:app/releases") { request, context in
            let app = try context.parameters.require("app")
            let body = try await decode(CreateReleaseRequest.self, request, context, limit: 64 << 20)
            var archives: [[UInt8]] = []
            for (i, encoded) in body.charts.enumerated() {
                guard let bytes = Base64.decode(encoded) else { throw AdminError.badRequest("chart \(i + 1) is not base64") }
                archives.append(bytes)
            }
            let lintHost = body.lint == true ? (body.proxyHost ?? publicHost(request)) : nil
            let summary = try await control.createRelease(appSlug: app, archives: archives, version: body.version, notes: body.releaseNotes,
                                                          promoteTo: body.promote, lintFor: lintHost,
                                                          acceptUnknown: body.acceptUnknown ?? [])
            return try json(ReleaseBody(summary), status: .created)
        }
        api.get("/apps/:app/releases") { _, context in
            try json(try await control.releases(appSlug: try context.parameters.require("app")).map(ReleaseBody.init))
        }
        api.post("/apps/:app/releases/:sequence/promote") { request, context in
            let app = try context.parameters.require("app")
            guard let sequence = Int(try context.parameters.require("sequence")) else { throw AdminError.badRequest("sequence must be a number") }
            let body = try await decode(PromoteRequest.self, request, context)
            let summary = try await control.promote(appSlug: app, sequence: sequence, channel: body.channel, version: body.version,
                                                    notes: body.releaseNotes)
            return try json(ReleaseBody(summary))
        }
    }
}

extension ChannelBody {
    init(_ r: ChannelRecord, app: String) {
        self.init(id: r.id, app: app, name: r.name, slug: r.slug, createdAt: r.createdAt)
    }
}

extension ReleaseBody {
    init(_ s: ReleaseSummary) {
        self.init(sequence: s.release.sequence, version: s.release.version, releaseNotes: s.release.notes, createdAt: s.release.createdAt,
                  editedAt: s.release.editedAt, activeChannels: s.activeChannels,
                  charts: s.charts.map { Chart(name: $0.name, version: $0.version, digest: $0.digest.description) })
    }
}
