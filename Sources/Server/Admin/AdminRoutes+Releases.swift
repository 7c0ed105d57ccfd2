import ControlPlane
import Hosting
import Hummingbird
import OCI
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerReleases(on api: RouterGroup<PortcullisContext>) {
        route(API.channels, on: api) { call in
            let app = try call.parameter("app")
            return try await control.channels(appSlug: app).map { ChannelBody($0, app: app) }
        }
        route(API.createChannel, on: api) { call in
            let app = try call.parameter("app")
            return ChannelBody(try await control.createChannel(appSlug: app, name: call.body.name), app: app)
        }
        route(API.createRelease, on: api) { call in
            let app = try call.parameter("app")
            let body = call.body
            var archives: [[UInt8]] = []
            for (i, encoded) in body.charts.enumerated() {
                guard let bytes = Base64.decode(encoded) else { throw AdminError.badRequest("chart \(i + 1) is not base64") }
                archives.append(bytes)
            }
            let lintHost = body.lint == true ? (body.proxyHost ?? publicHost(call.request)) : nil
            let summary = try await control.createRelease(appSlug: app, archives: archives, version: body.version, notes: body.releaseNotes,
                                                          promoteTo: body.promote, lintFor: lintHost,
                                                          acceptUnknown: body.acceptUnknown ?? [])
            return ReleaseBody(summary)
        }
        route(API.releases, on: api) { call in
            try await control.releases(appSlug: try call.parameter("app")).map(ReleaseBody.init)
        }
        route(API.promote, on: api) { call in
            let app = try call.parameter("app")
            guard let sequence = Int(try call.parameter("sequence")) else { throw AdminError.badRequest("sequence must be a number") }
            let body = call.body
            let summary = try await control.promote(appSlug: app, sequence: sequence, channel: body.channel, version: body.version,
                                                    notes: body.releaseNotes)
            return ReleaseBody(summary)
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
        warnings = s.warnings.isEmpty ? nil : s.warnings
    }
}
