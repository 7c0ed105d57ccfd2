import Connectivity
import Foundation
import Hummingbird
import Logging
import NIOCore
import PortcullisAPI
import ServiceLifecycle
import Synchronization

/// `GET /api/v1/app/info`.
struct AppInfoBody: Codable, Sendable {
    var instanceID: String
    var appSlug: String
    var appName: String
    /// The SDK watches no Kubernetes resources: `ready` while it runs.
    var appStatus: String
    var helmChartURL: String
    var channelID: String
    var channelName: String
    var channelSequence: Int
    var releaseSequence: Int
    var currentRelease: RunningRelease
}

struct HistoryBody: Codable, Sendable {
    var releases: [RunningRelease]
}

struct MetricsRequest: Codable, Sendable {
    var data: [String: JSONScalar]
}

struct TagsRequest: Codable, Sendable {
    struct Data: Codable, Sendable {
        var force: Bool?
        var tags: [String: String]
    }
    var data: Data
}

struct SDKError: Error {
    var status: HTTPResponse.Status
    var message: String
}

/// The in-cluster SDK: answers the application on the pod's service and reports the instance to
/// Portcullis on start, on a schedule and when the application sets metrics or tags.
public final class SDKService: Sendable {
    let configuration: SDKConfiguration
    let injected: VerifiedLicense
    let verifier: LicenseVerifier
    let state: SDKState
    /// Nil in air-gap mode: then nothing connects anywhere.
    let link: PortcullisLink?
    let cluster: ClusterFacts
    let logger: Logger

    /// The license as Portcullis last gave it to this process, and when to ask again.
    private struct Fetching {
        var schedule = LicenseRefreshSchedule()
        var running: Task<Void, Never>?
        var fetched: SDKLicenseBody?
    }
    private let fetching = Mutex(Fetching())
    /// Until when `app/updates` answers at once that Portcullis is unreachable, after a failure.
    private let updatesUnreachableUntil = Mutex(Date.distantPast)

    public init(configuration: SDKConfiguration, stateDirectory: String, caCertificate: String?, cluster: ClusterFacts, logger: Logger) throws {
        self.configuration = configuration
        verifier = try LicenseVerifier(publicKeyPEM: configuration.publicKey)
        injected = try verifier.document(configuration.license)
        state = try SDKState(directory: stateDirectory, pinnedInstanceID: configuration.instanceID)
        link = configuration.isAirgap || configuration.endpoint.isEmpty
            ? nil : PortcullisLink(endpoint: configuration.endpoint, licenseID: configuration.licenseID, caCertificate: caCertificate)
        self.cluster = cluster
        self.logger = logger
    }

    /// The license as it stands: as Portcullis gave it within `LicenseRefreshSchedule.freshFor`
    /// (asked now when it is time, see there), else its last answer kept in the state directory,
    /// else what was injected. In air-gap mode only what was injected.
    func statement() async -> LicenseStatement {
        var latest: (SDKLicenseBody, LicenseSource)?
        if let link {
            let (decision, running) = fetching.withLock { memory -> (LicenseRefreshSchedule.Decision, Task<Void, Never>?) in
                let decision = memory.schedule.decide(now: Date())
                if decision == .startFetch { memory.running = Task { await self.fetchLicense(link) } }
                return (decision, memory.running)
            }
            if decision != .answerFromKept, let running {
                // The fetch goes on past the patience; the next question gets its result.
                _ = try? await withDeadline(LicenseRefreshSchedule.patience, timedOut: { CancellationError() }) { await running.value }
            }
            latest = fetching.withLock { memory in
                memory.schedule.isFresh(now: Date()) ? memory.fetched.map { ($0, .portcullis) } : nil
            }
            if latest == nil, let kept = await state.license { latest = (kept, .cache) }
        }
        return LicenseStatement.compose(configuration, injected: injected, verifier: verifier, latest: latest, now: Date())
    }

    /// One fetch of the license; its result is what the questions that follow are answered with.
    private func fetchLicense(_ link: PortcullisLink) async {
        var body: SDKLicenseBody?
        do {
            let answer = try await link.license()
            if (try? verifier.document(answer.document))?.customerID == injected.customerID {
                body = answer
                try? await state.keep(license: answer)
            } else {
                logger.warning("Portcullis answered a license this SDK cannot verify as its own; ignored")
            }
        } catch {
            logger.info("license refresh failed; answering from the last copy", metadata: ["error": "\(error)"])
        }
        fetching.withLock { memory in
            if let body { memory.fetched = body }
            memory.schedule.finished(succeeded: body != nil, at: Date())
            memory.running = nil
        }
    }

    var placement: RunningRelease {
        RunningRelease(versionLabel: configuration.versionLabel, releaseSequence: configuration.releaseSequence,
                       channelID: configuration.channelID, channelName: configuration.channelName,
                       channelSequence: configuration.channelSequence, createdAt: configuration.releaseCreatedAt,
                       releaseNotes: configuration.releaseNotes, deployedAt: Date())
    }

    /// One check-in; failures are logged, never fatal (the next one carries the same facts).
    func report() async {
        guard let link else { return }
        let release = (try? await state.running(placement)) ?? placement
        let report = InstanceReport(
            instanceID: await state.instanceID, appSlug: injected.appSlug, clusterID: await state.clusterID, appStatus: "ready",
            versionLabel: release.versionLabel, releaseSequence: release.releaseSequence, channelSequence: release.channelSequence,
            channelID: release.channelID.nilIfEmpty, k8sVersion: cluster.version, k8sDistribution: cluster.distribution,
            customMetrics: await state.metrics, tags: await state.tags)
        do {
            try await link.report(report)
        } catch {
            logger.warning("instance report failed", metadata: ["error": "\(error)"])
        }
    }

    func reportSoon() {
        Task { await report() }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: UnmatchedSDKRequest())
        router.get("/healthz") { _, _ in try Self.json(["version": portcullisVersion]) }
        router.head("/healthz") { _, _ in Response(status: .ok) }
        let api = router.group("/api/v1")
        api.get("/license/info") { _, _ in try Self.json(await self.statement().info) }
        api.get("/license/fields") { _, _ in try Self.json(await self.statement().fields) }
        api.get("/license/fields/:name") { _, context in
            let name = Self.decoded(try context.parameters.require("name"))
            let statement = await self.statement()
            if let field = statement.fields[name] { return try Self.json(field) }
            if statement.tampered.contains(name) {
                return Self.error(.unprocessableContent, "license field \(name.debugDescription) has an invalid signature")
            }
            return Self.error(.notFound, "license field \(name.debugDescription) not found")
        }
        api.get("/app/info") { _, _ in
            let current = (try? await self.state.running(self.placement)) ?? self.placement
            return try Self.json(AppInfoBody(
                instanceID: await self.state.instanceID, appSlug: self.injected.appSlug, appName: self.configuration.appName,
                appStatus: "ready", helmChartURL: self.configuration.parentChartURL, channelID: self.configuration.channelID,
                channelName: self.configuration.channelName, channelSequence: self.configuration.channelSequence,
                releaseSequence: self.configuration.releaseSequence, currentRelease: current))
        }
        // Updates hold the application no longer than a license question does: at most the same
        // patience, and after a failure Portcullis is left alone as long (a cluster whose egress
        // is blocked held each call for the connect timeout).
        api.get("/app/updates") { _, _ in
            guard let link = self.link else { return try Self.json([ChannelReleaseBody]()) }
            let resting = self.updatesUnreachableUntil.withLock { $0 > Date() }
            if resting { return Self.error(.badGateway, "cannot reach Portcullis for updates (it did not answer just now; asked again shortly)") }
            do {
                let configuration = self.configuration
                let updates = try await withDeadline(LicenseRefreshSchedule.patience, timedOut: { SDKError(status: .gatewayTimeout, message: "no answer") }) {
                    try await link.updates(after: configuration.channelSequence, releaseSequence: configuration.releaseSequence,
                                           channelID: configuration.channelID)
                }
                self.reportSoon()
                return try Self.json(updates)
            } catch {
                self.updatesUnreachableUntil.withLock { $0 = Date().addingTimeInterval(LicenseRefreshSchedule.backoff) }
                return Self.error(.badGateway, "cannot reach Portcullis for updates: \(error)")
            }
        }
        api.get("/app/history") { _, _ in
            _ = try? await self.state.running(self.placement)
            return try Self.json(HistoryBody(releases: await self.state.history))
        }
        api.post("/app/custom-metrics") { request, context in
            try await self.metrics(request, context) { try await self.state.replaceMetrics($0) }
        }
        api.patch("/app/custom-metrics") { request, context in
            try await self.metrics(request, context) { try await self.state.mergeMetrics($0) }
        }
        api.delete("/app/custom-metrics/:key") { _, context in
            guard try await self.state.removeMetric(Self.decoded(try context.parameters.require("key"))) else {
                return Self.error(.notFound, "no such metric")
            }
            self.reportSoon()
            return Response(status: .noContent)
        }
        api.post("/app/instance-tags") { request, context in
            let body: TagsRequest
            do {
                body = try await Self.decode(TagsRequest.self, request, context, shape: "{\"data\": {\"force\": bool, \"tags\": {name: string}}} (tag values are strings)")
            } catch let error as SDKError {
                return Self.error(error.status, error.message)
            }
            if let problem = InstanceReportRules.problem(tags: body.data.tags) { return Self.error(.badRequest, problem) }
            do { try await self.state.setTags(body.data.tags, force: body.data.force ?? false) } catch let error as SDKError {
                return Self.error(error.status, error.message)
            }
            self.reportSoon()
            return try Self.json(await self.state.tags)
        }
        return router
    }

    private func metrics(_ request: Request, _ context: BasicRequestContext,
                         _ apply: ([String: JSONScalar]) async throws -> Void) async throws -> Response {
        let body: MetricsRequest
        do { body = try await Self.decode(MetricsRequest.self, request, context) } catch let error as SDKError {
            return Self.error(error.status, error.message)
        }
        guard !body.data.isEmpty else { return Self.error(.badRequest, "data must name at least one metric") }
        if let problem = InstanceReportRules.problem(metrics: body.data) { return Self.error(.badRequest, problem) }
        do { try await apply(body.data) } catch let error as SDKError { return Self.error(error.status, error.message) }
        reportSoon()
        return try Self.json(await state.metrics)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext,
                                     shape: String = "{\"data\": …} with scalar values (numbers, booleans, strings)") async throws -> T {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        do {
            return try APICoding.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw SDKError(status: .badRequest, message: "the body must be \(shape)")
        }
    }

    /// A path parameter as the application meant it (`se%61ts` is `seats`).
    static func decoded(_ parameter: String) -> String {
        parameter.removingPercentEncoding ?? parameter
    }

    static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try APICoding.encoder.encode(value))))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? APICoding.encoder.encode(APIErrorBody(error: message))) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// What no route takes, answered as the API's errors are (JSON) instead of an empty 404.
struct UnmatchedSDKRequest: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            return SDKService.error(.notFound, "no endpoint \(request.method) \(request.uri.path.prefix(200)); the README lists the SDK's API")
        }
    }
}

/// Reports the instance on start and every report interval.
public struct SDKReporter: Service {
    let sdk: SDKService

    public init(sdk: SDKService) { self.sdk = sdk }

    public func run() async throws {
        guard sdk.link != nil else { return }
        _ = await sdk.statement()
        while !Task.isShuttingDownGracefully {
            await sdk.report()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(sdk.configuration.reportInterval * 1000))) }
            } catch { break }
        }
        await sdk.link?.shutdown()
    }
}
