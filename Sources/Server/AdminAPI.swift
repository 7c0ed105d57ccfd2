import Access
import Foundation
import HTTPTypes
import Hosting
import ImageTooling
import Hummingbird
import Licensing
import NIOCore
import OCI
import Storage
import Upstream

/// The vendor control plane under `/api/v1`, behind the admin token.
struct AdminAPI: Sendable {
    let c: Components
    let adminTokenHash: String

    func register(on router: Router<PortcullisContext>) {
        let api = router.group("/api/v1").add(middleware: AdminAuthMiddleware(adminTokenHash: adminTokenHash))
        api.post("/apps", use: createApp)
        api.get("/apps", use: listApps)
        api.post("/registries", use: createRegistry)
        api.get("/registries", use: listRegistries)
        api.delete("/registries/:name", use: deleteRegistry)
        api.post("/registries/:name/test", use: testRegistry)
        api.post("/customers", use: createCustomer)
        api.get("/customers", use: listCustomers)
        api.get("/customers/:id", use: getCustomer)
        api.patch("/customers/:id", use: updateCustomer)
        api.post("/customers/:id/archive", use: archiveCustomer)
        api.post("/customers/:id/unarchive", use: unarchiveCustomer)
        api.get("/customers/:id/pull-secret", use: pullSecret)
        api.get("/customers/:id/pulls", use: customerPulls)
        api.post("/tokens", use: createToken)
        api.get("/tokens", use: listTokens)
        api.delete("/tokens/:id", use: deleteToken)
        api.get("/apps/:app/channels", use: listChannels)
        api.post("/apps/:app/channels", use: createChannel)
        api.post("/apps/:app/releases", use: createRelease)
        api.get("/apps/:app/releases", use: listReleases)
        api.post("/apps/:app/releases/:sequence/promote", use: promoteRelease)
        api.post("/apps/:app/lint", use: lintChart)
        api.post("/images/find", use: findImages)
    }

    // MARK: Apps

    @Sendable func createApp(_ request: Request, context: PortcullisContext) async throws -> Response {
        let body = try await decode(CreateAppRequest.self, request, context)
        try validateSlug(body.slug, "app slug")
        let app = AppRecord(slug: body.slug, name: body.name ?? body.slug)
        try await c.store.createApp(app)
        try await c.catalog.createDefaultChannels(appID: app.id)
        c.logger.info("app created", metadata: ["app": "\(app.slug)"])
        return try .json(AppBody(app), status: .created)
    }

    @Sendable func listApps(_ request: Request, context: PortcullisContext) async throws -> Response {
        try .json(try await c.store.apps().map(AppBody.init))
    }

    // MARK: Registries

    @Sendable func createRegistry(_ request: Request, context: PortcullisContext) async throws -> Response {
        let body = try await decode(CreateRegistryRequest.self, request, context)
        let kind = body.provider.lowercased()
        let endpointText: String
        var username = body.username
        switch kind {
        case "dockerhub": endpointText = body.endpoint ?? "index.docker.io"
        case "ghcr": endpointText = body.endpoint ?? "ghcr.io"
        case "quay": endpointText = body.endpoint ?? "quay.io"
        case "gcr", "gar":
            guard let e = body.endpoint else { throw APIError.badRequest("--endpoint is required for \(kind), e.g. us-docker.pkg.dev") }
            endpointText = e
            username = username ?? "_json_key"
        case "other":
            guard let e = body.endpoint else { throw APIError.badRequest("--endpoint is required") }
            endpointText = e
        case "ecr":
            throw APIError.badRequest("ecr registries are not supported yet (they need AWS SigV4 token exchange); use a pull-through credential with kind other")
        default:
            throw APIError.badRequest("unknown registry kind \(kind.debugDescription); use other, dockerhub, ghcr, quay, gar or gcr")
        }
        if kind == "dockerhub", !DockerHub.isDockerHub(host: Self.hostPart(endpointText)) {
            throw APIError.badRequest("dockerhub registries always use index.docker.io")
        }
        let endpoint: RegistryEndpoint
        do { endpoint = try RegistryEndpoint(parsing: endpointText) } catch { throw APIError.badRequest(error.description) }
        let name = body.name ?? Slug.derive(from: kind == "dockerhub" ? "dockerhub" : endpoint.authority)
        try validateSlug(name, "registry name")
        if body.secret != nil, (username ?? "").isEmpty {
            throw APIError.badRequest("a username is required with a password or token")
        }
        var appIDs: [String] = []
        for slug in body.apps ?? [] {
            guard let app = try await c.store.app(slug: slug) else { throw APIError.notFound("app \(slug) not found") }
            appIDs.append(app.id)
        }
        let record = RegistryRecord(
            name: name, provider: kind, endpoint: endpoint.baseURL, host: endpoint.canonicalHost,
            username: body.secret == nil ? nil : username, sealedSecret: try body.secret.map { try c.secrets.seal($0) },
            authType: body.secret == nil ? "anonymous" : (body.authType ?? "password"), appIDs: appIDs)
        try await c.store.createRegistry(record)
        await c.directory.invalidate()
        c.logger.info("registry added", metadata: ["registry": "\(name)", "endpoint": "\(endpoint.baseURL)"])
        return try .json(try await registryBody(record), status: .created)
    }

    static func hostPart(_ endpoint: String) -> String {
        var s = Substring(endpoint)
        if let r = s.range(of: "://") { s = s[r.upperBound...] }
        return String(s.split(separator: "/").first ?? "")
    }

    @Sendable func listRegistries(_ request: Request, context: PortcullisContext) async throws -> Response {
        var out: [RegistryBody] = []
        for r in try await c.store.registries() { out.append(try await registryBody(r)) }
        return try .json(out)
    }

    @Sendable func deleteRegistry(_ request: Request, context: PortcullisContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard try await c.store.deleteRegistry(name: name) else { throw APIError.notFound("registry \(name) not found") }
        await c.directory.invalidate()
        return Response(status: .noContent)
    }

    @Sendable func testRegistry(_ request: Request, context: PortcullisContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let body = try await decode(TestRegistryRequest.self, request, context)
        guard let registry = try await c.store.registry(name: name) else { throw APIError.notFound("registry \(name) not found") }
        let (repository, reference) = try Self.splitImage(body.image)
        let normalized = registry.host == DockerHub.canonicalHost ? DockerHub.repository(repository) : repository
        let result: TestRegistryResult
        do {
            let target = try await c.directory.target(for: registry)
            let head = try await c.upstream.headManifest(target, repository: normalized, reference: reference)
            result = TestRegistryResult(result: "ok", message: "found \(normalized):\(reference)" + (head.digest.map { " (\($0))" } ?? ""))
        } catch let error as UpstreamError {
            switch error {
            case .authenticationFailed: result = TestRegistryResult(result: "auth failed", message: error.description)
            case .notFound: result = TestRegistryResult(result: "not found", message: "\(normalized):\(reference) not found upstream")
            default: result = TestRegistryResult(result: "unreachable", message: error.description)
            }
        }
        return try .json(result)
    }

    static func splitImage(_ image: String) throws -> (String, String) {
        if let at = image.firstIndex(of: "@") {
            return (String(image[..<at]), String(image[image.index(after: at)...]))
        }
        if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
            return (String(image[..<colon]), String(image[image.index(after: colon)...]))
        }
        guard (try? RepositoryName(parsing: image)) != nil else { throw APIError.badRequest("image must look like repo:tag or repo@digest") }
        return (image, "latest")
    }

    private func registryBody(_ r: RegistryRecord) async throws -> RegistryBody {
        var slugs: [String] = []
        for id in r.appIDs { if let app = try await c.store.app(id: id) { slugs.append(app.slug) } }
        return RegistryBody(name: r.name, provider: r.provider, endpoint: r.endpoint, username: r.username,
                            authType: r.authType, apps: slugs.sorted(), createdAt: r.createdAt)
    }

    // MARK: Customers

    @Sendable func createCustomer(_ request: Request, context: PortcullisContext) async throws -> Response {
        let body = try await decode(CreateCustomerRequest.self, request, context)
        guard let app = try await c.store.app(slug: body.app) else { throw APIError.notFound("app \(body.app) not found") }
        guard !body.name.trimmingCharacters(in: .whitespaces).isEmpty else { throw APIError.badRequest("customer name is required") }
        let type = try parseType(body.type ?? "dev")
        let channel = try await channelName(body.channel ?? ReleaseCatalog.stable, appID: app.id)
        let licenseID = LicenseID.generate()
        let customer = CustomerRecord(
            appID: app.id, name: body.name, email: body.email, channel: channel, type: type,
            expiresAt: body.expiresAt, helmInstall: body.helmInstall ?? true,
            licenseHash: SecretBox.lookupHash(licenseID), sealedLicense: try c.secrets.seal(licenseID))
        try await c.store.createCustomer(customer)
        c.logger.info("customer created", metadata: ["customer": "\(customer.id)", "app": "\(app.slug)"])
        return try .json(try customerBody(customer, app: app), status: .created)
    }

    @Sendable func listCustomers(_ request: Request, context: PortcullisContext) async throws -> Response {
        var appID: String?
        if let slug = request.uri.queryParameters["app"] {
            guard let app = try await c.store.app(slug: String(slug)) else { throw APIError.notFound("app \(slug) not found") }
            appID = app.id
        }
        let apps = Dictionary(uniqueKeysWithValues: try await c.store.apps().map { ($0.id, $0) })
        let customers = try await c.store.customers(appID: appID)
        return try .json(try customers.compactMap { cu in try apps[cu.appID].map { try customerBody(cu, app: $0) } })
    }

    @Sendable func getCustomer(_ request: Request, context: PortcullisContext) async throws -> Response {
        let (customer, app) = try await loadCustomer(context)
        return try .json(try customerBody(customer, app: app))
    }

    @Sendable func updateCustomer(_ request: Request, context: PortcullisContext) async throws -> Response {
        var (customer, app) = try await loadCustomer(context)
        let body = try await decode(UpdateCustomerRequest.self, request, context)
        if let name = body.name { customer.name = name }
        if let email = body.email { customer.email = email }
        if let channel = body.channel { customer.channel = try await channelName(channel, appID: app.id) }
        if let type = body.type { customer.type = try parseType(type) }
        if let expiresAt = body.expiresAt { customer.expiresAt = expiresAt }
        if body.clearExpiry == true { customer.expiresAt = nil }
        if let archived = body.archived { customer.archived = archived }
        if let helmInstall = body.helmInstall { customer.helmInstall = helmInstall }
        return try await save(customer, app: app)
    }

    @Sendable func archiveCustomer(_ request: Request, context: PortcullisContext) async throws -> Response {
        var (customer, app) = try await loadCustomer(context)
        customer.archived = true
        return try await save(customer, app: app)
    }

    @Sendable func unarchiveCustomer(_ request: Request, context: PortcullisContext) async throws -> Response {
        var (customer, app) = try await loadCustomer(context)
        customer.archived = false
        return try await save(customer, app: app)
    }

    @Sendable func pullSecret(_ request: Request, context: PortcullisContext) async throws -> Response {
        let (customer, _) = try await loadCustomer(context)
        let host = PublicAddress(configuration: c.configuration, request: request).host
        let licenseID = try c.secrets.open(customer.sealedLicense)
        return try .json(PullSecretBody(host: host, dockerconfigjson: PullSecret.dockerConfigJSON(host: host, licenseID: licenseID),
                                        base64: PullSecret.dockerConfigJSONBase64(host: host, licenseID: licenseID)))
    }

    @Sendable func customerPulls(_ request: Request, context: PortcullisContext) async throws -> Response {
        let (customer, _) = try await loadCustomer(context)
        let limit = request.uri.queryParameters["limit"].flatMap { Int($0) }.map { min(max($0, 1), 10_000) } ?? 100
        await c.pulls.flush()
        return try .json(try await c.store.pulls(customerID: customer.id, limit: limit))
    }

    private func channelName(_ name: String, appID: String) async throws -> String {
        guard let channel = try await c.catalog.channel(appID: appID, named: name) else {
            throw APIError.badRequest("unknown channel \(name.debugDescription)")
        }
        return channel.name
    }

    // MARK: Vendor tokens

    @Sendable func createToken(_ request: Request, context: PortcullisContext) async throws -> Response {
        let body = try await decode(CreateTokenRequest.self, request, context)
        guard let scope = VendorTokenRecord.Scope(rawValue: body.scope ?? "push") else {
            throw APIError.badRequest("scope must be read or push")
        }
        let secret = VendorToken.generate()
        let record = VendorTokenRecord(name: body.name, tokenHash: SecretBox.lookupHash(secret), scope: scope)
        try await c.store.createVendorToken(record)
        await c.gate.invalidateVendorTokens()
        c.logger.info("vendor token created", metadata: ["token": "\(record.id)", "scope": "\(scope.rawValue)"])
        return try .json(TokenBody(record, token: secret), status: .created)
    }

    @Sendable func listTokens(_ request: Request, context: PortcullisContext) async throws -> Response {
        try .json(try await c.store.vendorTokens().map { TokenBody($0, token: nil) })
    }

    @Sendable func deleteToken(_ request: Request, context: PortcullisContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard try await c.store.deleteVendorToken(id: id) else { throw APIError.notFound("token \(id) not found") }
        await c.gate.invalidateVendorTokens()
        return Response(status: .noContent)
    }

    // MARK: Channels and releases

    private func app(_ context: PortcullisContext) async throws -> AppRecord {
        let slug = try context.parameters.require("app")
        guard let app = try await c.store.app(slug: slug) else { throw APIError.notFound("app \(slug) not found") }
        return app
    }

    @Sendable func listChannels(_ request: Request, context: PortcullisContext) async throws -> Response {
        let app = try await app(context)
        return try .json(try await c.catalog.channels(appID: app.id).map { ChannelBody($0, app: app) })
    }

    @Sendable func createChannel(_ request: Request, context: PortcullisContext) async throws -> Response {
        let app = try await app(context)
        let body = try await decode(CreateChannelRequest.self, request, context)
        return try .json(ChannelBody(try await c.catalog.createChannel(appID: app.id, name: body.name), app: app), status: .created)
    }

    @Sendable func createRelease(_ request: Request, context: PortcullisContext) async throws -> Response {
        let app = try await app(context)
        let body = try await decode(CreateReleaseRequest.self, request, context, limit: 64 << 20)
        var archives: [[UInt8]] = []
        for (i, encoded) in body.charts.enumerated() {
            guard let bytes = Base64.decode(encoded) else { throw APIError.badRequest("chart \(i + 1) is not base64") }
            archives.append(bytes)
        }
        if body.lint == true {
            let host = body.proxyHost ?? PublicAddress(configuration: c.configuration, request: request).host
            var errors: [LintFinding] = []
            for (i, archive) in archives.enumerated() {
                errors += try lint(archive, name: "chart \(i + 1)", app: app.slug, proxyHost: host).filter { $0.severity == .error }
            }
            if !errors.isEmpty {
                throw APIError.badRequest("chart lint failed: " + errors.map(\.description).joined(separator: "; "))
            }
        }
        let sequence = try await c.catalog.createRelease(appID: app.id, archives: archives, version: body.version,
                                                         notes: body.releaseNotes, promoteTo: body.promote)
        c.logger.info("release created", metadata: ["app": "\(app.slug)", "sequence": "\(sequence)"])
        let summary = try await c.catalog.summaries(appID: app.id).first { $0.release.sequence == sequence }
        return try .json(summary.map(ReleaseBody.init), status: .created)
    }

    @Sendable func listReleases(_ request: Request, context: PortcullisContext) async throws -> Response {
        let app = try await app(context)
        return try .json(try await c.catalog.summaries(appID: app.id).map(ReleaseBody.init))
    }

    @Sendable func promoteRelease(_ request: Request, context: PortcullisContext) async throws -> Response {
        let app = try await app(context)
        guard let sequence = Int(try context.parameters.require("sequence")) else { throw APIError.badRequest("sequence must be a number") }
        let body = try await decode(PromoteRequest.self, request, context)
        try await c.catalog.promote(appID: app.id, sequence: sequence, channel: body.channel, version: body.version, notes: body.releaseNotes)
        let summary = try await c.catalog.summaries(appID: app.id).first { $0.release.sequence == sequence }
        return try .json(summary.map(ReleaseBody.init))
    }

    // MARK: Image tooling

    @Sendable func lintChart(_ request: Request, context: PortcullisContext) async throws -> Response {
        let app = try await app(context)
        let body = try await decode(LintRequest.self, request, context, limit: 32 << 20)
        guard let archive = Base64.decode(body.chart) else { throw APIError.badRequest("chart is not base64") }
        let host = body.proxyHost ?? PublicAddress(configuration: c.configuration, request: request).host
        return try .json(LintResult(findings: try lint(archive, name: body.name ?? "chart.tgz", app: app.slug, proxyHost: host)))
    }

    private func lint(_ archive: [UInt8], name: String, app: String, proxyHost: String) throws -> [LintFinding] {
        do {
            return try ChartLinter.lint(try SourceLoader.chartArchive(bytes: archive, name: name), app: app, proxyHost: proxyHost)
        } catch {
            throw APIError.badRequest(error.description)
        }
    }

    @Sendable func findImages(_ request: Request, context: PortcullisContext) async throws -> Response {
        let body = try await decode(FindImagesRequest.self, request, context, limit: 8 << 20)
        let role: SourceFile.Role = body.kind == "values" ? .values : .manifests
        do {
            let found = try ImageFinder.find(in: SourceFile(path: body.name ?? "input.yaml", text: body.yaml, role: role))
            return try .json(found.map { FoundImage(file: $0.file, line: $0.line, image: $0.reference.description, context: $0.context) })
        } catch let error as ToolingError {
            throw APIError.badRequest(error.description)
        }
    }

    private func save(_ customer: CustomerRecord, app: AppRecord) async throws -> Response {
        var customer = customer
        customer.updatedAt = Date()
        try await c.store.updateCustomer(customer)
        await c.gate.invalidate(customerID: customer.id)
        c.logger.info("customer updated", metadata: ["customer": "\(customer.id)", "archived": "\(customer.archived)"])
        return try .json(try customerBody(customer, app: app))
    }

    private func loadCustomer(_ context: PortcullisContext) async throws -> (CustomerRecord, AppRecord) {
        let id = try context.parameters.require("id")
        guard let customer = try await c.store.customer(id: id), let app = try await c.store.app(id: customer.appID) else {
            throw APIError.notFound("customer \(id) not found")
        }
        return (customer, app)
    }

    private func customerBody(_ cu: CustomerRecord, app: AppRecord) throws -> CustomerBody {
        let standing = cu.license(appSlug: app.slug).standing(at: Date())
        let status = switch standing {
        case .active: "active"
        case .expired: "expired"
        case .archived: "archived"
        }
        return CustomerBody(id: cu.id, app: app.slug, name: cu.name, email: cu.email, channel: cu.channel, type: cu.type.rawValue,
                            expiresAt: cu.expiresAt, archived: cu.archived, helmInstall: cu.helmInstall, status: status,
                            licenseId: try c.secrets.open(cu.sealedLicense), createdAt: cu.createdAt, updatedAt: cu.updatedAt)
    }

    private func parseType(_ text: String) throws -> LicenseType {
        guard let type = LicenseType(rawValue: text) else {
            throw APIError.badRequest("license type must be one of \(LicenseType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return type
    }

    private func validateSlug(_ text: String, _ what: String) throws {
        do { try Slug.validate(text, what: what) } catch { throw APIError.badRequest(error.message) }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: PortcullisContext, limit: Int? = nil) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit ?? context.maxUploadSize)
        } catch {
            throw APIError.tooLarge
        }
        do {
            return try JSONCoding.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIError.badRequest("missing field \(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw APIError.badRequest("invalid value for \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw APIError.badRequest("request body must be a JSON object")
        }
    }
}

enum APIError: Error {
    case badRequest(String)
    case notFound(String)
    case tooLarge
}

/// Admin routes need `Authorization: Bearer <admin token>`; errors become JSON.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    let adminTokenHash: String

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
              SecretBox.lookupHash(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) == adminTokenHash else {
            return .apiError(.unauthorized, "admin token required (Authorization: Bearer <token>)")
        }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            switch error {
            case .badRequest(let m): return .apiError(.badRequest, m)
            case .notFound(let m): return .apiError(.notFound, m)
            case .tooLarge: return .apiError(.contentTooLarge, "request body too large")
            }
        } catch let error as CatalogError {
            return .apiError(.badRequest, error.description)
        } catch let error as StoreError {
            switch error {
            case .conflict(let m): return .apiError(.conflict, m)
            case .notFound(let m): return .apiError(.notFound, m)
            }
        } catch let error as HTTPError {
            return .apiError(error.status, error.body ?? "request failed")
        }
    }
}
