import Foundation
import Hosting
import Licensing
import OCI
import Proxy
import RegistryCore
import Storage
import Synchronization

/// What a registry request needs: actions on a repository, and for a cross-repository
/// mount, pull on the source too. Routes derive it from the method and path before they
/// know who is asking, so a 401 can challenge for exactly this.
public struct AccessRequest: Sendable, Equatable {
    public var name: RepositoryName
    public var actions: [RegistryAction]
    /// `from=` of a mount, which needs `pull` there.
    public var mountSource: RepositoryName?

    public init(name: RepositoryName, actions: [RegistryAction], mountSource: RepositoryName? = nil) {
        self.name = name
        self.actions = actions
        self.mountSource = mountSource
    }

    /// The scopes a `WWW-Authenticate` challenge for this request names, in token-scope syntax.
    public var challengeScopes: [RepositoryScope] {
        var scopes = [RepositoryScope(name: name.description, actions: actions.map(\.rawValue))]
        if let mountSource, mountSource != name { scopes.append(RepositoryScope(name: mountSource.description, actions: ["pull"])) }
        return scopes
    }
}

/// Where a request arrived: the host the client used, and the app whose custom domain that is.
public struct RequestAddress: Sendable, Equatable {
    /// `host[:port]` as the client reached us.
    public var host: String
    /// The app slug when `host` is one of its custom domains.
    public var domainApp: String?
    /// The configured public host, when there is one (it stays valid beside custom domains).
    public var defaultHost: String?
    /// `http` or `https`, as clients reach us.
    public var scheme: String

    public init(host: String, domainApp: String? = nil, defaultHost: String? = nil, scheme: String = "https") {
        self.scheme = scheme
        self.host = host
        self.domainApp = domainApp
        self.defaultHost = defaultHost
    }
}

/// A repository a caller has been allowed to use for a request.
public struct ResolvedRepository: Sendable {
    public let kind: RepositoryKind
    public let appSlug: String
    public let reader: any RepositoryReader
    /// Set for repositories that take pushes (the request was checked for push rights).
    public let writer: (any RepositoryWriter)?
}

/// Turns (repository name, caller, actions) into the repository to serve, or a refusal.
/// It is the one place that looks up what a name is — an upstream the app may use, a chart
/// repository on a channel, a vendor repository — and asks `AccessRules` whether this caller
/// may have it. Routes receive an already-authorized repository and check nothing themselves.
public struct RepositoryResolver: Sendable {
    let apps: any AppStore
    let customers: any CustomerStore
    let secrets: SecretBox
    let directory: UpstreamDirectory
    let proxy: ProxyCache
    let hosted: HostedRegistry
    let catalog: ReleaseCatalog
    let delivery: ChartDelivery
    let domains: DomainDirectory
    let publicRepositories: any PublicRepositoryStore
    let licenseFields: LicenseFieldSigner
    let manifestLimit: Int
    /// How long what is injected for a customer is reused before it is read again.
    let recipientLifetime: TimeInterval
    let recipients: RecipientMemo

    public init(apps: any AppStore, customers: any CustomerStore, secrets: SecretBox, directory: UpstreamDirectory, proxy: ProxyCache,
                hosted: HostedRegistry, catalog: ReleaseCatalog, delivery: ChartDelivery, domains: DomainDirectory,
                publicRepositories: any PublicRepositoryStore, licenseFields: LicenseFieldSigner, manifestLimit: Int,
                recipientLifetime: TimeInterval = 5, recipients: RecipientMemo = RecipientMemo()) {
        self.recipientLifetime = recipientLifetime
        self.recipients = recipients
        self.apps = apps
        self.customers = customers
        self.secrets = secrets
        self.directory = directory
        self.proxy = proxy
        self.hosted = hosted
        self.catalog = catalog
        self.delivery = delivery
        self.domains = domains
        self.publicRepositories = publicRepositories
        self.licenseFields = licenseFields
        self.manifestLimit = manifestLimit
    }

    /// Whether a caller may use the registry at all (`GET /v2/`, the token endpoint).
    public func admit(_ principal: Principal, now: Date = Date()) throws {
        try enforce(AccessRules.login(principal, now: now))
    }

    /// The repository for `request`; `address` is where the caller reached us (its hosts go into
    /// the pull secret of a delivered chart).
    public func resolve(_ request: AccessRequest, caller: Caller, address: RequestAddress, now: Date = Date()) async throws
        -> ResolvedRepository {
        let name = request.name
        for action in request.actions { try enforce(AccessRules.preflight(caller, action, on: name, now: now)) }
        try enforce(AccessRules.onDomain(of: address.domainApp, name))
        if let source = request.mountSource { try enforce(AccessRules.preflight(caller, .pull, on: source, now: now)) }
        if AccessRules.isLibrary(name) {
            if name.description == SDKChart.repository, let artifact = SDKChart.artifact {
                try decide(caller, request, kind: .library(builtIn: true), now: now)
                return ResolvedRepository(kind: .library(builtIn: true), appSlug: AccessRules.library, reader: BuiltInRepository(artifact),
                                          writer: nil)
            }
            try decide(caller, request, kind: .library(builtIn: false), now: now)
            let repository = hosted.repository(name)
            return ResolvedRepository(kind: .library(builtIn: false), appSlug: AccessRules.library, reader: repository, writer: repository)
        }
        guard let appSlug = AccessRules.appSlug(of: name), let app = try await apps.app(slug: appSlug) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        let resolved: ResolvedRepository
        if AccessRules.isProxied(name) {
            // Naming no registry never reaches an upstream, whoever asks.
            let candidates = try await directory.candidates(name, usable: Self.usable(by: app))
            let upstream = try self.upstream(candidates, app: app, named: name.components.dropFirst(2).first.map(String.init))
            try decide(caller, request, kind: .proxied, isPublic: upstream.registry.anonymousPull, now: now)
            resolved = ResolvedRepository(kind: .proxied, appSlug: appSlug, reader: proxy.repository(upstream), writer: nil)
        } else if let chart = try await catalog.chartRepository(appID: app.id, path: name.components.dropFirst().map(String.init)) {
            let kind = RepositoryKind.chart(channelName: chart.channel.name, channelSlug: chart.channel.slug)
            try decide(caller, request, kind: kind, now: now)
            // Who: now. What is injected for them: only when a manifest is built for them.
            let audience: ChartDelivery.Audience = switch caller.principal {
            case .customer(let license): .customer(id: license.customerID)
            case .vendor: .vendor
            case .anonymous: throw AccessRefusal.unauthorized("authentication required")
            }
            let principal = caller.principal, channel = chart.channel.name, resolver = self
            let reader = DeliveredChartRepository(name: name, chart: chart, audience: audience, recipient: {
                try await resolver.recipient(principal, channel: channel, app: app, address: address)
            }, delivery: delivery, manifestLimit: manifestLimit)
            resolved = ResolvedRepository(kind: kind, appSlug: appSlug, reader: reader, writer: nil)
        } else {
            let isPublic = caller.principal == .anonymous ? try await publicRepositories.isPublic(name.description) : false
            try decide(caller, request, kind: .hosted, isPublic: isPublic, now: now)
            let repository = hosted.repository(name)
            // Worked out only for a "not found" answer, never on the way to content.
            let resolver = self
            let reader = HintedRepository(repository) {
                await resolver.proxyPathMeant(by: name, app: app).map { "images of upstream registries are pulled as \($0)" }
            }
            resolved = ResolvedRepository(kind: .hosted, appSlug: appSlug, reader: reader, writer: repository)
        }
        return resolved
    }

    /// `proxy/<name>`, when `name` reads as a proxy path without its prefix: its second part is a
    /// registry the app may use (`acme/vendor-reg/org/api` for `proxy/acme/vendor-reg/org/api`).
    private func proxyPathMeant(by name: RepositoryName, app: AppRecord) async -> String? {
        guard name.components.count >= 3, let proxied = try? RepositoryName(parsing: "\(ProxyName.prefix)/\(name)"),
              let candidates = try? await directory.candidates(proxied, usable: Self.usable(by: app)), (try? upstream(candidates, app: app)) != nil else { return nil }
        return proxied.description
    }

    /// Why a customer of `app` could not pull the proxy path `name`, in the words their pull would
    /// get; nil when one of the app's registries serves it. A chart whose images name a registry
    /// the app does not have is not ready for the proxy, whatever its templates say.
    public func proxyPathRefusal(_ name: RepositoryName, app: AppRecord) async throws -> String? {
        let candidates = try await directory.candidates(name, usable: Self.usable(by: app))
        do {
            _ = try upstream(candidates, app: app, named: name.components.dropFirst(2).first.map(String.init))
            return nil
        } catch let refusal as RegistryError {
            return refusal.message
        }
    }

    /// Whether the vendor lets anyone pull `name` (a registry or a vendor repository marked
    /// for anonymous pulls); used to grant anonymous tokens.
    public func isPublic(_ name: RepositoryName) async throws -> Bool {
        if AccessRules.isLibrary(name) { return true }
        guard let appSlug = AccessRules.appSlug(of: name), let app = try await apps.app(slug: appSlug) else { return false }
        if AccessRules.isProxied(name) {
            let candidates = try await directory.candidates(name, usable: Self.usable(by: app))
            return (try? upstream(candidates, app: app))?.registry.anonymousPull ?? false
        }
        if try await catalog.chartRepository(appID: app.id, path: name.components.dropFirst().map(String.init)) != nil { return false }
        return try await publicRepositories.isPublic(name.description)
    }

    /// The repository for a node mirror's request: `request.name` as the upstream names it, the
    /// upstream from `namespace` (a host), the app from the caller's license.
    public func resolveMirrored(_ request: AccessRequest, namespace: String, caller: Caller, address: RequestAddress, now: Date = Date())
        async throws -> ResolvedRepository {
        for action in request.actions { try enforce(AccessRules.mirror(caller, action, now: now)) }
        if case .customer(let license) = caller.principal { try enforce(AccessRules.onDomain(of: address.domainApp, app: license.appSlug)) }
        let hostCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")
        guard case .customer(let license) = caller.principal, !namespace.isEmpty, namespace.count <= 255,
              namespace.lowercased().allSatisfy({ hostCharacters.contains($0) }),
              let app = try await apps.app(slug: license.appSlug) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        let candidates = try await directory.mirroredCandidates(host: namespace, repository: request.name.description)
        let upstream = try self.upstream(candidates, app: app)
        return ResolvedRepository(kind: .proxied, appSlug: app.slug, reader: proxy.repository(upstream), writer: nil)
    }

    /// The registries `app` may use, as the test for which path components name a registry.
    static func usable(by app: AppRecord) -> @Sendable (RegistryRecord) -> Bool {
        { AccessRules.mayUse(registryOf: $0.appIDs, app: app.id) }
    }

    /// The first of the registries a proxy path can mean that the app may use for this repository.
    /// `named`: the registry the path names, said in the refusal (the same words whether it exists
    /// for another app or not at all, so nothing is learnt about other apps).
    private func upstream(_ candidates: UpstreamCandidates?, app: AppRecord, named: String? = nil) throws -> ResolvedUpstream {
        var usable = false
        for (registry, repository) in candidates?.registries ?? [] {
            guard AccessRules.mayUse(registryOf: registry.appIDs, app: app.id) else { continue }
            usable = true
            let decision = AccessRules.upstream(registryOf: registry.appIDs, allowlist: registry.allowedRepositories, app: app.id,
                                                repository: repository)
            if decision == .allow { return try directory.resolved(registry, repository: repository) }
        }
        guard let named else { throw RegistryError(.nameUnknown, "repository name not known to registry") }
        if usable {
            throw RegistryError(.nameUnknown, "\(named) does not serve this repository to \(app.slug) (it is not among the repositories allowed)")
        }
        throw RegistryError(.nameUnknown, "no upstream registry named \(named.debugDescription) is registered for \(app.slug); "
                                          + "proxy paths are proxy/\(app.slug)/<registry>/<repository>")
    }

    private func decide(_ caller: Caller, _ request: AccessRequest, kind: RepositoryKind, isPublic: Bool = false, now: Date) throws {
        for action in request.actions {
            try enforce(AccessRules.decide(caller, action, on: request.name, kind: kind, isPublic: isPublic, now: now))
        }
    }

    private func enforce(_ decision: AccessDecision) throws {
        switch decision {
        case .allow: return
        case .unauthorized(let message): throw AccessRefusal.unauthorized(message)
        case .denied(let message): throw AccessRefusal.denied(message)
        case .nameUnknown: throw RegistryError(.nameUnknown, "repository name not known to registry")
        case .unsupported(let message): throw RegistryError(.unsupported, message)
        }
    }

    /// Vendors get charts as released; customers get them with their license injected. What is
    /// injected for a customer is worked out once per `recipientLifetime` (it reads the customer,
    /// the app's domains and the license fields), so warm pulls read no database.
    func recipient(_ principal: Principal, channel: String, app: AppRecord, address: RequestAddress) async throws
        -> ChartDelivery.Recipient {
        switch principal {
        case .anonymous:
            throw AccessRefusal.unauthorized("authentication required")
        case .vendor:
            return .vendor
        case .customer(let license):
            let key = "\(license.customerID)|\(channel)|\(address.host)|\(address.defaultHost ?? "")"
            if let known = recipients.get(key, lifetime: recipientLifetime) { return known }
            let made = try await makeRecipient(license, channel: channel, app: app, address: address)
            recipients.put(key, made)
            return made
        }
    }

    private func makeRecipient(_ license: License, channel: String, app: AppRecord, address: RequestAddress) async throws
        -> ChartDelivery.Recipient {
        guard let record = try await customers.customer(id: license.customerID) else { throw AccessRefusal.unauthorized("invalid license") }
        let licenseID = try secrets.open(record.sealedLicense)
        // Every host the customer may pull from: this one, the app's custom domains, the default.
        let hosts = [address.host] + (try await domains.names(ofApp: app.id)) + [address.defaultHost].compactMap { $0 }
        let sdk = ChartDelivery.SDKFacts(
            licenseDocument: try await licenseFields.document(for: license, licenseType: license.type.rawValue, channel: channel),
            publicKeyPEM: try await licenseFields.publicKeyPEM(appID: app.id), appName: app.name,
            endpoint: "\(address.scheme)://\(address.host)", host: address.host)
        return .customer(license, licenseID: licenseID,
                         pullSecret: PullSecret.dockerConfigJSONBase64(hosts: hosts, licenseID: licenseID), channelName: channel,
                         licenseFields: try await licenseFields.fields(for: license), sdk: sdk)
    }
}

/// What is injected into customers' charts, worked out recently, by customer, channel and host.
/// The control plane forgets a customer's when it changes what is injected for them (fields,
/// channel, expiry), and everyone's when an app's domains or field definitions change; other
/// replicas see such changes within the lifetime.
public final class RecipientMemo: Sendable {
    private let entries = Mutex<[String: (recipient: ChartDelivery.Recipient, at: Date)]>([:])

    public init() {}

    public func forget(customerID: String) {
        entries.withLock { entries in entries = entries.filter { !$0.key.hasPrefix(customerID + "|") } }
    }

    public func forgetAll() { entries.withLock { $0.removeAll() } }

    func get(_ key: String, lifetime: TimeInterval, now: Date = Date()) -> ChartDelivery.Recipient? {
        entries.withLock { entries in
            guard let hit = entries[key], now.timeIntervalSince(hit.at) < lifetime else { return nil }
            return hit.recipient
        }
    }

    func put(_ key: String, _ recipient: ChartDelivery.Recipient, now: Date = Date()) {
        entries.withLock { entries in
            if entries.count > 50_000 { entries.removeAll() }
            entries[key] = (recipient, now)
        }
    }
}
