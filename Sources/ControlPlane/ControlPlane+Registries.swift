import Foundation
import Licensing
import OCI
import Storage
import Upstream

/// What a vendor fills in to connect a registry.
public struct RegistryDraft: Sendable {
    public var provider: String
    public var endpoint: String?
    public var name: String?
    /// The username, robot account, or (ECR) access key ID.
    public var username: String?
    /// The password, token, JSON key or (ECR) secret access key.
    public var secret: String?
    public var authType: String?
    /// ECR's region, when the endpoint is not an ECR host name that says it.
    public var region: String?
    /// No credentials: a public registry.
    public var anonymous: Bool
    /// Upstream repository patterns customers may pull (`org/*`); empty: all.
    public var allow: [String]
    /// Anyone may pull through it without a license.
    public var anonymousPull: Bool
    public var apps: [String]
    /// Hosts of token services approved besides the registry's own host (`--token-realm`).
    public var tokenRealms: [String] = []

    public init(provider: String, endpoint: String?, name: String?, username: String?, secret: String?, authType: String?,
                region: String? = nil, anonymous: Bool = false, allow: [String] = [], anonymousPull: Bool = false, apps: [String]) {
        self.provider = provider
        self.endpoint = endpoint
        self.name = name
        self.username = username
        self.secret = secret
        self.authType = authType
        self.region = region
        self.anonymous = anonymous
        self.allow = allow
        self.anonymousPull = anonymousPull
        self.apps = apps
    }
}

extension ControlPlane {
    /// Registers a registry; with `verify`, its credentials are tried first and refused when
    /// the registry refuses them. The warning says when they could not be tried.
    public func addRegistry(_ draft: RegistryDraft, verify: Bool = true) async throws -> (record: RegistryRecord, warning: String?) {
        let provider = try RegistryProvider.parse(draft.provider)
        let endpoint = try provider.endpoint(given: draft.endpoint)
        let name = draft.name ?? Slug.derive(from: provider == .dockerhub ? "dockerhub" : endpoint.authority)
        try validateSlug(name, "registry name")
        let login = try provider.login(draft, endpoint: endpoint)
        for pattern in draft.allow {
            do { _ = try RepositoryPattern(parsing: pattern) } catch { throw ControlPlaneError.invalid(error.description) }
        }
        var appIDs: [String] = []
        for slug in draft.apps { appIDs.append(try await app(slug: slug).id) }
        let realms = try draft.tokenRealms.map(Self.realmHost)
        try await checkDestination(endpoint.baseURL, what: "registry endpoint")
        if try await store.registry(name: name) != nil { throw ControlPlaneError.conflict("registry \(name) already exists") }
        let record = RegistryRecord(
            name: name, provider: provider.rawValue, endpoint: endpoint.baseURL, host: endpoint.canonicalHost,
            username: login.username, sealedSecret: try login.secret.map { try secrets.seal($0) }, authType: login.authType,
            region: login.region, allowedRepositories: draft.allow, anonymousPull: draft.anonymousPull, appIDs: appIDs, tokenRealms: realms)
        let warning = verify ? try await verifyLogin(record) : nil
        try await normalized { try await store.createRegistry(record) }
        await directory.invalidate()
        logger.info("registry added", metadata: ["registry": "\(name)", "endpoint": "\(endpoint.baseURL)", "auth": "\(login.authType)"])
        return (record, warning)
    }

    /// Replaces a registry's credentials (rotation), tried first unless `verify` is false.
    public func updateRegistryLogin(name: String, username: String?, secret: String, authType: String?, verify: Bool = true) async throws
        -> (record: RegistryRecord, warning: String?) {
        guard var record = try await store.registry(name: name) else { throw ControlPlaneError.notFound("registry \(name) not found") }
        let provider = try RegistryProvider.parse(record.provider)
        let endpoint = try provider.endpoint(given: record.endpoint)
        let draft = RegistryDraft(provider: record.provider, endpoint: record.endpoint, name: name, username: username ?? record.username,
                                  secret: secret, authType: authType, region: record.region, apps: [])
        let login = try provider.login(draft, endpoint: endpoint)
        record.username = login.username
        record.sealedSecret = try login.secret.map { try secrets.seal($0) }
        record.authType = login.authType
        // What the old credentials got is not used again, neither by the check nor by pulls.
        await upstream.forgetLogins(registry: record.id)
        let warning = verify ? try await verifyLogin(record) : nil
        guard try await store.updateRegistryLogin(name: name, username: record.username, sealedSecret: record.sealedSecret,
                                                  authType: record.authType) else {
            throw ControlPlaneError.notFound("registry \(name) not found")
        }
        await directory.invalidate()
        await upstream.forgetLogins(registry: record.id)
        logger.info("registry credentials replaced", metadata: ["registry": "\(name)", "auth": "\(login.authType)"])
        return (record, warning)
    }

    /// Tries a registry's credentials before they are kept: refused when the registry refuses
    /// them; a warning (kept anyway) when it cannot be reached to tell.
    private func verifyLogin(_ record: RegistryRecord) async throws -> String? {
        guard record.sealedSecret != nil else { return nil }
        // As the registry itself: what the check logs in to (an ECR password) serves the first pulls.
        let target = try directory.target(for: record)
        do {
            try await upstream.ping(target, repository: "portcullis/login-check")
            return nil
        } catch let error as UpstreamError {
            switch error {
            case .authenticationFailed:
                throw ControlPlaneError.invalid("\(record.endpoint) refused these credentials; check them, or keep them anyway with --no-verify")
            case .unapprovedLogin(let host):
                throw ControlPlaneError.invalid("\(record.endpoint) sends logins to \(host), which is not approved for it: "
                                                + "approve it with --token-realm \(host), or keep the registry anyway with --no-verify")
            case .notFound: return nil
            default: return "the credentials could not be tried: \(Self.plain(error)); `registry test` tries them again"
            }
        }
    }

    /// An upstream failure as a vendor reads it: a host that does not resolve said so.
    static func plain(_ error: UpstreamError) -> String {
        if case .unresolvable(let host) = error { return "\(host) does not resolve (check the endpoint)" }
        return error.description
    }

    /// Lets anyone pull a vendor repository (`<app>/<repo>`) without a license, or stops it.
    public func setRepositoryPublic(_ name: String, _ isPublic: Bool) async throws {
        let parsed: RepositoryName
        do { parsed = try RepositoryName(parsing: name) } catch { throw ControlPlaneError.invalid("invalid repository name \(name.debugDescription)") }
        let parts = parsed.components
        guard parts.count >= 2, parts[0] != Substring(ProxyName.prefix) else {
            throw ControlPlaneError.invalid("public repositories are vendor repositories <app>/<repo>; "
                                            + "proxied ones are public through `registry add --anonymous-pull`")
        }
        let app = try await app(slug: String(parts[0]))
        if isPublic, try await catalog.chartRepository(appID: app.id, path: parts.dropFirst().map(String.init)) != nil {
            throw ControlPlaneError.invalid("\(parsed) is a chart repository: charts are built for each customer's license and are never public")
        }
        try await store.setPublic(parsed.description, isPublic)
        logger.info("repository visibility changed", metadata: ["repository": "\(parsed)", "public": "\(isPublic)"])
    }

    public func publicRepositories() async throws -> [String] {
        try await store.publicRepositories()
    }

    public func registries() async throws -> [RegistryRecord] {
        try await store.registries()
    }

    /// The slugs of the apps a registry is limited to (empty: every app).
    public func appSlugs(of registry: RegistryRecord) async throws -> [String] {
        var slugs: [String] = []
        for id in registry.appIDs { if let app = try await store.app(id: id) { slugs.append(app.slug) } }
        return slugs.sorted()
    }

    public func removeRegistry(name: String) async throws {
        guard try await store.deleteRegistry(name: name) else { throw ControlPlaneError.notFound("registry \(name) not found") }
        await directory.invalidate()
    }

    public enum RegistryTestOutcome: String, Sendable {
        case ok, authFailed = "auth failed", notFound = "not found", unreachable
    }

    /// Asks the upstream for `image` with the stored credentials.
    public func testRegistry(name: String, image: String) async throws -> (outcome: RegistryTestOutcome, message: String) {
        guard let registry = try await store.registry(name: name) else { throw ControlPlaneError.notFound("registry \(name) not found") }
        let (repository, reference) = try Self.splitImage(image)
        let normalized = registry.host == DockerHub.canonicalHost ? DockerHub.repository(repository) : repository
        do {
            let target = try directory.target(for: registry)
            let head = try await upstream.manifestHead(target, repository: normalized, reference: reference)
            return (.ok, "found \(normalized):\(reference)" + (head.digest.map { " (\($0))" } ?? ""))
        } catch let error as UpstreamError {
            switch error {
            case .authenticationFailed: return (.authFailed, "the registry refused the stored credentials")
            case .notFound: return (.notFound, "\(normalized):\(reference) not found upstream")
            default: return (.unreachable, Self.plain(error))
            }
        }
    }

    /// The repository and reference of `repo[:tag|@digest]`, each checked before any part of it
    /// goes into an upstream URL (`../`, `?`, `#` and spaces never reach one).
    static func splitImage(_ image: String) throws -> (String, String) {
        var repository = image, reference = "latest"
        if let at = image.firstIndex(of: "@") {
            repository = String(image[..<at])
            reference = String(image[image.index(after: at)...])
            guard (try? Digest(parsing: reference)) != nil else { throw ControlPlaneError.invalid("\(reference.debugDescription) is not a digest") }
        } else if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
            repository = String(image[..<colon])
            reference = String(image[image.index(after: colon)...])
            guard ManifestReference.isValidTag(reference) else { throw ControlPlaneError.invalid("\(reference.debugDescription) is not a tag") }
        }
        guard (try? RepositoryName(parsing: repository)) != nil else {
            throw ControlPlaneError.invalid("image must look like repo:tag or repo@digest, with a repository of lower-case path components")
        }
        return (repository, reference)
    }
}

extension ControlPlane {
    /// The host of a token service as the vendor names it (`gitlab.com`, `https://authn.nvidia.com/token`).
    static func realmHost(_ text: String) throws -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let url = trimmed.contains("://") ? trimmed : "https://" + trimmed
        guard let host = URL(string: url)?.host, !host.isEmpty,
              host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" }) else {
            throw ControlPlaneError.invalid("token realm \(text.debugDescription) is not a host name (e.g. auth.example.com)")
        }
        return host.lowercased()
    }
}
