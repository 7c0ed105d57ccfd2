import Access
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hosting
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Proxy
import ServiceLifecycle
import Storage
import Upstream

/// Builds the server from its configuration and runs it until SIGTERM or SIGINT.
public enum PortcullisServer {
    public static func run(_ configuration: ServerConfiguration, logger: Logger) async throws {
        let dataDir = DataDirectory(root: configuration.dataDirectory)
        try dataDir.prepare()
        let store = try await SQLMetadataStore.openSQLite(path: dataDir.databasePath, logger: logger)
        let http = UpstreamClient.makeHTTPClient()
        do {
            let components = try await makeComponents(configuration, dataDir: dataDir, store: store, http: http, logger: logger)
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
            let group = ServiceGroup(configuration: .init(
                services: [app, components.pulls], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
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
                                      http: HTTPClient, logger: Logger) async throws -> Components {
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
                          pulls: PullRecorder(log: store, logger: logger), logger: logger)
    }

    public static func makeApplication(_ c: Components, adminToken: String,
                                       onRunning: @escaping @Sendable (String) -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router(context: PortcullisContext.self)
        router.add(middleware: AccessLogMiddleware(logger: c.logger))
        router.get("/healthz") { _, _ in "ok\n" }
        RegistryEndpoints(c: c).register(on: router)
        AdminAPI(c: c, adminTokenHash: SecretBox.lookupHash(adminToken)).register(on: router)

        let server: HTTPServerBuilder
        if let cert = c.configuration.tlsCertificatePath, let key = c.configuration.tlsKeyPath {
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
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
        if request.uri.path != "/healthz" {
            logger.info("request", metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
                                              "status": "\(response.status.code)"])
        }
        return response
    }
}
