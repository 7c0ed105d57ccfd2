import Access
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hosting
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import Prometheus
import NIOCore
import NIOSSL
import Proxy
import ServiceLifecycle
import Storage
import Upstream

/// Builds the server from its configuration and runs it until SIGTERM or SIGINT.
public enum PortcullisServer {
    public static func run(_ configuration: ServerConfiguration, logger: Logger) async throws {
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        let dataDir = DataDirectory(root: configuration.dataDirectory)
        try dataDir.prepare()
        let store = try await SQLMetadataStore.openSQLite(path: dataDir.databasePath, logger: logger)
        // A body that stops arriving fails after the same wait as a head that never comes.
        let http = UpstreamClient.makeHTTPClient(readTimeout: .milliseconds(Int64(configuration.upstreamTimeout * 1000)))
        do {
            let components = try await makeComponents(configuration, dataDir: dataDir, store: store, http: http, metrics: metrics, logger: logger)
            let adminToken = try dataDir.adminToken()
            let app = try makeApplication(components, adminToken: adminToken) { address in
                let url = "\(configuration.usesTLS ? "https" : "http")://\(address)"
                try? dataDir.writePrivate(dataDir.apiURLPath, url + "\n")
                // Written unbuffered: scripts wait for this line.
                FileHandle.standardOutput.write(Data("""
                    Portcullis listening on \(url)
                    Data directory: \(dataDir.root)
                    Admin API token: in \(dataDir.adminTokenPath) (the CLI on this machine reads it from there; elsewhere set PORTCULLIS_API_TOKEN)

                    """.utf8))
            }
            var groupConfig = ServiceGroupConfiguration(
                // Shut down in reverse: readiness says so first, then the listener drains, then pull records flush.
                services: [.init(service: components.pulls), .init(service: app), .init(service: ShutdownNotice(state: components.state))],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            groupConfig.maximumGracefulShutdownDuration = .milliseconds(Int64(configuration.shutdownGrace * 1000))
            let group = ServiceGroup(configuration: groupConfig)
            try await group.run()
        } catch {
            try? await http.shutdown()
            try? await store.close()
            throw error
        }
        try await http.shutdown()
        try await store.close()
    }

    public static func makeComponents(_ configuration: ServerConfiguration, dataDir: DataDirectory, store: SQLMetadataStore,
                                      http: HTTPClient, metrics: PrometheusCollectorRegistry = .init(), logger: Logger) async throws -> Components {
        let secrets = try SecretBox(keyBytes: try dataDir.secretKey())
        let signingKey = try dataDir.secretFile(dataDir.signingKeyPath) { RegistryTokenService.generatePrivateKeyPEM() }
        let tokens = try await RegistryTokenService(privateKeyPEM: signingKey, lifetime: configuration.tokenLifetime)
        let gate = LicenseGate(customers: store, apps: store, vendorTokens: store, tokens: tokens, adminToken: try dataDir.adminToken())
        let blobs = try FileBlobStore(root: dataDir.blobsPath, spoolRoot: dataDir.spoolPath)
        let upstream = UpstreamClient(http: http, responseTimeout: .milliseconds(Int64(configuration.upstreamTimeout * 1000)), logger: logger)
        let cache = BlobCache(store: blobs, logger: logger)
        let proxy = ProxyRegistry(index: store, blobs: cache, upstream: upstream,
                                  policy: ProxyPolicy(tagTTL: configuration.tagTTL, staleLimit: configuration.staleLimit,
                                                      manifestLimit: configuration.manifestLimit),
                                  logger: logger)
        return Components(configuration: configuration, store: store, blobs: blobs, secrets: secrets, tokens: tokens, gate: gate,
                          upstream: upstream, directory: UpstreamDirectory(store: store, secrets: secrets), proxy: proxy,
                          hosted: HostedRegistry(repositories: store, links: store, blobs: blobs, manifestLimit: configuration.manifestLimit),
                          catalog: ReleaseCatalog(store: store, blobs: blobs), delivery: ChartDelivery(blobs: blobs, index: store),
                          pulls: PullRecorder(log: store, logger: logger),
                          throttle: LoginThrottle(limit: configuration.loginFailureLimit), metrics: metrics, state: ServerState(),
                          // TLS encrypts in user space, so file regions only help on plain HTTP.
                          sendfile: configuration.usesTLS ? nil : SendfileRegistry(),
                          logger: logger)
    }

    public static func makeApplication(_ c: Components, adminToken: String,
                                       onRunning: @escaping @Sendable (String) -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router(context: PortcullisContext.self)
        router.add(middleware: AccessLogMiddleware(logger: c.logger))
        router.get("/healthz") { _, _ in "ok\n" }
        OperationsEndpoints(c: c).register(on: router)
        RegistryEndpoints(c: c).register(on: router)
        AdminAPI(c: c, adminTokenHash: SecretBox.lookupHash(adminToken)).register(on: router)

        let limits = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: c.configuration.maxHeaderBytes, maxHeaderListSize: c.configuration.maxHeaderBytes, maxHeaderFieldCount: 200)
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(120), httpDecoderConfiguration: limits)
        let server: HTTPServerBuilder
        if let cert = c.configuration.tlsCertificatePath, let key = c.configuration.tlsKeyPath {
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(configuration: http1), tlsConfiguration: tls)
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

/// Marks the server as draining as soon as graceful shutdown begins.
struct ShutdownNotice: Service {
    let state: ServerState

    func run() async throws {
        try? await gracefulShutdown()
        state.beginDraining()
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
