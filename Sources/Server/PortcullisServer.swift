import Access
import AsyncHTTPClient
import Backends
import Bundles
import Connectivity
import ControlPlane
import Foundation
import HTTPTypes
import Hosting
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import ImageTooling
import Logging
import Metrics
import Prometheus
import NIOCore
import NIOSSL
import OCI
import Proxy
import ServiceLifecycle
import Storage
import Upstream

/// Builds the server from its configuration and runs it until SIGTERM or SIGINT.
public enum PortcullisServer {
    /// `observability` runs beside the server (the trace exporter), shut down after it.
    public static func run(_ configuration: ServerConfiguration, observability: [any Service] = [], logger: Logger) async throws {
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        // Whatever the server creates (the database and its journal, blobs, spool files) is its
        // own: no group or other permissions.
        umask(0o077)
        DescriptorLimit.raise(logger: logger)
        let dataDir = DataDirectory(root: configuration.dataDirectory)
        try dataDir.prepare(blobs: configuration.blobStoreURL == nil)
        let lock = try dataDir.lockForServing()
        defer { withExtendedLifetime(lock) {} }
        let storageConfiguration = StorageConfiguration(
            metadata: configuration.databaseURL.map { .postgres(url: $0) } ?? .sqlite(path: dataDir.databasePath),
            blobs: configuration.blobStoreURL.map { .s3(url: $0) } ?? .directory(root: dataDir.blobsPath),
            spool: dataDir.spoolPath)
        let secrets = try ServerSecrets.resolve(configuration, dataDir: dataDir, logger: logger)
        let storage = try await StorageBackend.open(storageConfiguration, logger: logger)
        // A body that stops arriving fails after the same wait as a head that never comes.
        let http = HTTPClientTransport.makeHTTPClient(readTimeout: .milliseconds(Int64(configuration.upstreamTimeout * 1000)))
        do {
            if configuration.blobRedirectTTL != nil, storage.presign == nil {
                throw StorageStartupError(description: "--blob-redirect needs an s3:// blob store to presign URLs for")
            }
            let components = try await makeComponents(configuration, secrets: secrets, storage: storage, http: http, metrics: metrics,
                                                      logger: logger)
            let app = try makeApplication(components, adminToken: secrets.adminToken) { address in
                let url = "\(configuration.usesTLS ? "https" : "http")://\(address)"
                try? dataDir.writePrivate(dataDir.apiURLPath, url + "\n")
                let token = configuration.adminToken != nil
                    ? "from PORTCULLIS_ADMIN_TOKEN"
                    : "in \(dataDir.adminTokenPath) (the CLI on this machine reads it from there; elsewhere set PORTCULLIS_API_TOKEN)"
                // Written unbuffered: scripts wait for this line.
                FileHandle.standardOutput.write(Data("""
                    Portcullis listening on \(url)
                    Data directory: \(dataDir.root)
                    Storage: \(storageConfiguration.summary)
                    Admin API token: \(token)

                    """.utf8))
            }
            // Shut down in reverse: readiness says so first, then the listener drains, then
            // fills under way finish, then pull records flush.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = observability.map { .init(service: $0) }
            services += [.init(service: components.pulls), .init(service: components.evictor), .init(service: components.fills),
                         .init(service: app), .init(service: ShutdownNotice(state: components.state, grace: configuration.shutdownGrace,
                                                                            logger: logger))]
            if let webhooks = components.control.webhooks { services.append(.init(service: webhooks)) }
            services.append(.init(service: ExpiryNotices(control: components.control, interval: noticeInterval(configuration),
                                                         inactiveAfter: configuration.instanceInactiveAfter)))
            services.append(.init(service: HangupHandler(certificates: components.certificates, logger: logger)))
            if components.certificates != nil {
                services.append(.init(service: DomainCertificateRefresher(certificates: DomainCertificates(c: components), interval: .seconds(10))))
            }
            var groupConfig = ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            groupConfig.maximumGracefulShutdownDuration = .milliseconds(Int64(configuration.shutdownGrace * 1000))
            let group = ServiceGroup(configuration: groupConfig)
            try await group.run()
            await components.outbound.shutdown()
            logger.notice("stopped")
        } catch {
            try? await http.shutdown()
            try? await storage.close()
            throw error
        }
        try await http.shutdown()
        try await storage.close()
    }

    /// Assembles the domain over a storage backend. The fill service and pull recorder it
    /// returns must be run (as services) for fills and pull records to happen.
    /// License expiry and instance silence are checked this often: the expiry scan interval,
    /// or a quarter of the inactivity time when that is shorter (so it is noticed within it).
    static func noticeInterval(_ configuration: ServerConfiguration) -> Duration {
        let seconds = max(0.5, min(configuration.expiryScanInterval, configuration.instanceInactiveAfter / 4))
        return .milliseconds(Int64(seconds * 1000))
    }

    public static func makeComponents(_ configuration: ServerConfiguration, secrets: ServerSecrets, storage: StorageBackend,
                                      http: HTTPClient, metrics: PrometheusCollectorRegistry = .init(), logger: Logger) async throws -> Components {
        let store = storage.metadata, blobs = storage.blobs
        // Replicas see each other's changes to apps and licenses within this bound; one
        // replica alone sees its own at once.
        let cacheTTL: TimeInterval = storage.isShared ? 2 : 5
        // What every registry request reads, kept in memory in front of the database.
        let apps = MemoizedAppStore(store, ttl: storage.isShared ? cacheTTL : 10)
        let proxyIndex = MemoizedProxyIndex(index: store, visibility: store)
        let sealer = try SecretBox(keyBytes: secrets.secretKey)
        let signingKeys = try await SigningKeys.load(store: store, secrets: sealer, legacyPEM: secrets.legacySigningKeyPEM)
        let tokens = try await RegistryTokenService(privateKeysPEM: signingKeys, lifetime: configuration.tokenLifetime) {
            try await SigningKeys.load(store: store, secrets: sealer)
        }
        let gate = LicenseGate(customers: store, apps: apps, vendorTokens: store, tokens: tokens, adminToken: secrets.adminToken, cacheTTL: cacheTTL)
        // Every outbound connection the server makes for what upstreams, vendors and webhooks name.
        let outbound = OutboundConnections(
            policy: AddressPolicy(allowPrivate: configuration.allowPrivateUpstreams),
            configuration: HTTPClientTransport.configuration(readTimeout: .milliseconds(Int64(configuration.upstreamTimeout * 1000))))
        let upstream = HTTPUpstreamRegistry(connections: outbound, responseTimeout: .milliseconds(Int64(configuration.upstreamTimeout * 1000)),
                                            logger: logger)
        let fills = FillService()
        let peerPass = PeerPass(box: sealer)
        // Replicas stream each other's fills when they can reach each other (see `PeerFillRoutes`).
        let leases: (any FillLeases)? = storage.isShared
            ? SharedFillLeases(store: store, address: configuration.peerAddress, logger: logger) : nil
        let peers: (any PeerFills)? = storage.isShared ? PeerFillClient(http: http, pass: peerPass, logger: logger) : nil
        let blobCache = BlobCache(store: blobs, fills: fills, leases: leases, peers: peers, logger: logger)
        let usage = CacheUsage()
        let proxy = ProxyCache(index: proxyIndex, visibility: proxyIndex, blobs: blobCache, upstream: upstream,
                               policy: ProxyPolicy(tagTTL: configuration.tagTTL, staleLimit: configuration.staleLimit,
                                                   manifestLimit: configuration.manifestLimit),
                               entries: store, usage: usage, logger: logger)
        let evictor = CacheEvictor(entries: store, blobs: blobCache, usage: usage,
                                   limit: try configuration.cacheLimit?.bytes(directory: storage.localBlobDirectory),
                                   interval: .milliseconds(Int64(configuration.cacheCheckInterval * 1000)), logger: logger)
        let directory = UpstreamDirectory(store: store, secrets: sealer, refreshInterval: storage.isShared ? cacheTTL : 10)
        let catalog = ReleaseCatalog(store: store, blobs: blobs, refreshInterval: cacheTTL)
        let recipients = RecipientMemo()
        let uploads: (any BlobUploads)? = storage.isShared
            ? storage.uploadParts.map { SharedUploadSessions(sessions: store, parts: $0, store: blobs) } : nil
        let domains = DomainDirectory(store: store, refreshInterval: storage.isShared ? cacheTTL : 10)
        let licenseFieldSigner = LicenseFieldSigner(store: store, secrets: sealer)
        let resolver = RepositoryResolver(
            apps: apps, customers: store, secrets: sealer, directory: directory, proxy: proxy,
            hosted: HostedRegistry(repositories: store, visibility: store, blobs: blobs, uploads: uploads, manifestLimit: configuration.manifestLimit),
            catalog: catalog,
            // The build lease is taken on one machine too: `gc` forgets a recipe under it.
            delivery: ChartDelivery(blobs: blobs, index: store, visibility: store, built: store, leases: store, releaseImages: ReleaseImages.of),
            domains: domains, publicRepositories: store, licenseFields: licenseFieldSigner, manifestLimit: configuration.manifestLimit,
            recipientLifetime: cacheTTL, recipients: recipients)
        let webhooks = WebhookDispatcher(store: store, secrets: sealer, transport: WebhookHTTPTransport(connections: outbound), logger: logger)
        let control = ControlPlane(store: store, secrets: sealer, gate: gate, directory: directory, upstream: upstream, catalog: catalog,
                                   domains: domains, outbound: outbound, recipients: recipients,
                                   pulls: PullRecorder(log: store, webhooks: webhooks, refusedPerHour: configuration.refusedPullThreshold,
                                                       retention: configuration.pullRetention,
                                                       logger: logger),
                                   webhooks: webhooks, licenseFields: licenseFieldSigner, proxyPaths: resolver, logger: logger)
        // Each check answers within a kubelet's default probe timeout (1 s): a store that takes
        // its connect timeout (10 s against an object store refusing connections) would
        // otherwise outlast the probe, which then says only "timeout" and leaves the check running.
        let readiness: @Sendable () async -> String? = {
            let patience = Duration.milliseconds(900)
            struct NoAnswer: Error {}
            do { _ = try await withDeadline(patience, timedOut: { NoAnswer() }) { try await store.app(slug: "-") } } catch is NoAnswer {
                return "database unavailable: no answer within 0.9 s"
            } catch { return "database unavailable" }
            do { try await withDeadline(patience, timedOut: { NoAnswer() }) { try await storage.probeBlobs() } } catch is NoAnswer {
                return "blob store unavailable: no answer within 0.9 s"
            } catch { return "blob store unavailable" }
            return nil
        }
        var blobRedirect: (@Sendable (Digest) -> String)?
        if let ttl = configuration.blobRedirectTTL, let presign = storage.presign {
            blobRedirect = { presign($0, ttl) }
        }
        let sharedFailures: (any LoginFailureStore)? = storage.isShared ? store : nil
        return Components(configuration: configuration, gate: gate, tokens: tokens, resolver: resolver, control: control, fills: fills,
                          blobCache: blobCache, peerPass: peerPass,
                          evictor: evictor, cacheUsage: usage,
                          bundles: BundleBuilder(resolver: resolver, catalog: catalog, blobs: blobs, store: store,
                                                 manifestLimit: configuration.manifestLimit, logger: logger),
                          collector: HostedGarbageCollector(store: store, blobs: blobs, manifestLimit: configuration.manifestLimit, logger: logger),
                          chartCollector: DeliveredChartCollector(store: store, blobs: blobs, leases: store,
                                                                  manifestLimit: configuration.manifestLimit, logger: logger),
                          throttle: LoginThrottle(limit: configuration.loginFailureLimit, shared: sharedFailures),
                          metrics: metrics, state: ServerState(), readiness: readiness, blobRedirect: blobRedirect,
                          // TLS encrypts in user space, so file regions only help on plain HTTP.
                          sendfile: configuration.usesTLS ? nil : SendfileRegistry(),
                          anonymousRate: AnonymousRateLimit(limit: configuration.anonymousRateLimit), domains: domains,
                          certificates: try tlsCertificates(configuration), outbound: outbound, logger: logger)
    }

    public static func makeApplication(_ c: Components, adminToken: String,
                                       onRunning: @escaping @Sendable (String) -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router(context: PortcullisContext.self)
        // First, so every log line of a request carries its trace id.
        if c.configuration.tracing { router.add(middleware: TracingMiddleware()) }
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: BodyPaceMiddleware())
        router.add(middleware: AccessLogMiddleware(logger: c.logger))
        router.add(middleware: UnmatchedRequestMiddleware())
        router.add(middleware: ForeignHostNotice(configuration: c.configuration, domains: c.domains, logger: c.logger))
        router.get("/healthz") { _, _ in "ok\n" }
        OperationsEndpoints(c: c).register(on: router)
        RegistryRoutes(c: c).register(on: router)
        BundleRoutes(c: c).register(on: router)
        SDKRoutes(c: c).register(on: router)
        PeerFillRoutes(c: c).register(on: router)
        AdminRoutes(c: c, adminTokenHash: SecretBox.lookupHash(adminToken)).register(on: router)
        let portal = PortalKit(c: c, library: try PortalTemplates.library())
        router.add(middleware: PortalErrorPages(kit: portal, logger: c.logger))
        VendorPortalRoutes(kit: portal).register(on: router)
        CustomerPortalRoutes(kit: portal).register(on: router)

        let limits = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: c.configuration.maxHeaderBytes, maxHeaderListSize: c.configuration.maxHeaderBytes, maxHeaderFieldCount: 200)
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [CloseAfterLastEnd()], idleTimeout: .seconds(120),
                                               httpDecoderConfiguration: limits)
        let server: HTTPServerBuilder
        if let certificates = c.certificates, c.configuration.http2 {
            server = try .http2Upgrade(tlsConfiguration: certificates.serverConfiguration(),
                                       configuration: .init(idleTimeout: .seconds(120), streamConfiguration: http1))
        } else if let certificates = c.certificates {
            server = try .tls(.http1(configuration: http1), tlsConfiguration: certificates.serverConfiguration())
        } else if let registry = c.sendfile {
            let maxHeaderBytes = c.configuration.maxHeaderBytes
            server = HTTPServerBuilder { responder in
                ZeroCopyHTTP1Channel(responder: responder, registry: registry, maxHeaderBytes: maxHeaderBytes, idleTimeout: .seconds(120))
            }
        } else {
            server = .http1(configuration: http1)
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(c.configuration.host, port: c.configuration.port), serverName: nil),
            onServerRunning: { channel in
                let address = channel.localAddress.map { "\($0.ipAddress ?? c.configuration.host):\($0.port ?? c.configuration.port)" }
                onRunning(address ?? "\(c.configuration.host):\(c.configuration.port)")
            },
            logger: c.logger)
    }
}

/// The default certificate from `--tls-cert/--tls-key`, refused at start with the reason.
private func tlsCertificates(_ configuration: ServerConfiguration) throws -> TLSCertificates? {
    guard let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath else { return nil }
    do { return try TLSCertificates(certificateFile: cert, keyFile: key) } catch {
        throw StorageStartupError(description: "--tls-cert/--tls-key: \(error.description)")
    }
}

/// Marks the server as draining as soon as graceful shutdown begins.
struct ShutdownNotice: Service {
    let state: ServerState
    let grace: TimeInterval
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        state.beginDraining()
        logger.notice("shutting down: no new connections; requests in flight may finish",
                      metadata: ["grace": "\(grace)s"])
    }
}

/// One log line per non-registry request (registry requests log their own, richer line).
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    let logger: Logger

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix("/v2") { return try await next(request, context) }
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            logger.info("request", metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "status": "error"])
            throw error
        }
        Counter(label: "portcullis_http_requests_total", dimensions: [
            ("route", request.uri.path.hasPrefix("/api/") ? "admin" : "other"), ("status", String(response.status.code)),
        ]).increment()
        if request.uri.path != "/healthz" && request.uri.path != "/metrics" && request.uri.path != "/readyz" {
            logger.info("request", metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
                                              "status": "\(response.status.code)"])
        }
        return response
    }
}

/// What every response says to a browser: never sniff a content type (a body is only ever what
/// its Content-Type says), and, unless the response is a portal page with a policy of its own,
/// run nothing at all (`sandbox`: even a document that slipped through is an opaque origin that
/// cannot use a session or read a response). Registry responses, tokens and downloads are
/// data, never documents.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[Self.contentTypeOptions] = "nosniff"
        if response.headers[Self.contentSecurityPolicy] == nil {
            response.headers[Self.contentSecurityPolicy] = "default-src 'none'; sandbox"
        }
        return response
    }
}
