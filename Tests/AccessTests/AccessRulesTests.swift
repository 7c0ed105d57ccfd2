import Charts
import Foundation
import Hosting
import Licensing
import Logging
import NIOCore
import OCI
import Proxy
import RegistryCore
import Storage
import Synchronization
import Testing
import Upstream
@testable import Access

// MARK: - The decision table

/// The expected decisions are written from the rules as `AccessRules` documents them, in the
/// order it documents them: standing first (401), then app ownership, write rights and the
/// token's scope, all before the repository is looked up; then what the kind of repository
/// allows (proxied and chart repositories are read-only; charts need Helm and the channel).
@Suite struct AccessRulesDecisionTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func license(app: String = "acme", channel: String = "Stable", helm: Bool = true, expires: Date? = nil,
                        archived: Bool = false) -> Principal {
        .customer(License(customerID: "cust-\(app)-\(channel)", appID: "id-\(app)", appSlug: app, customerName: "C", customerEmail: nil,
                          channel: channel, type: .paid, expiresAt: expires, archived: archived, helmInstall: helm))
    }

    enum Who: String, CaseIterable, Sendable {
        case acmeStable, acmeNoHelm, acmeBeta, acmeExpired, acmeArchived, globex, admin, readOnlyToken, pushToken

        var principal: Principal {
            switch self {
            case .acmeStable: AccessRulesDecisionTests.license()
            case .acmeNoHelm: AccessRulesDecisionTests.license(helm: false)
            case .acmeBeta: AccessRulesDecisionTests.license(channel: "Beta")
            case .acmeExpired: AccessRulesDecisionTests.license(expires: AccessRulesDecisionTests.now.addingTimeInterval(-60))
            case .acmeArchived: AccessRulesDecisionTests.license(archived: true)
            case .globex: AccessRulesDecisionTests.license(app: "globex")
            case .admin: .vendor(canPush: true)
            case .readOnlyToken: .vendor(canPush: false)
            case .pushToken: .vendor(canPush: true)
            }
        }
    }

    enum Kind: CaseIterable, Sendable {
        case proxied, hosted, chartStable, chartBeta, missing

        var name: RepositoryName {
            switch self {
            case .proxied: try! RepositoryName(parsing: "proxy/acme/vendor/org/app")
            case .hosted: try! RepositoryName(parsing: "acme/api")
            case .chartStable: try! RepositoryName(parsing: "acme/stable/web")
            case .chartBeta: try! RepositoryName(parsing: "acme/beta/web")
            case .missing: try! RepositoryName(parsing: "acme/nothing")
            }
        }

        var kind: RepositoryKind? {
            switch self {
            case .proxied: .proxied
            case .hosted: .hosted
            case .chartStable: .chart(channelName: "Stable", channelSlug: "stable")
            case .chartBeta: .chart(channelName: "Beta", channelSlug: "beta")
            case .missing: nil
            }
        }
    }

    // The refusals, worded as the rules word them.
    static let expired = AccessDecision.unauthorized("license has expired")
    static let archived = AccessDecision.unauthorized("license is no longer active")
    static let otherApp = AccessDecision.denied("license does not grant access to this repository")
    static let onlyPull = AccessDecision.denied("licenses can only pull")
    static let readOnly = AccessDecision.denied("token is read-only")
    static let notCovered = AccessDecision.unauthorized("token does not cover this repository")
    static let proxiedReadOnly = AccessDecision.unsupported("proxied repositories are read-only")
    static let chartsAreReleased = AccessDecision.unsupported("charts are published with `portcullis release create`, not pushed")
    static let noHelm = AccessDecision.denied("license does not include Helm installs")
    static func channel(_ name: String) -> AccessDecision { .denied("license is for the \(name) channel") }

    /// Refusals decided before the token's scope is looked at: a token can change none of them.
    static let beforeTokenScope: [AccessDecision] = [expired, archived, otherApp, onlyPull, readOnly]

    static func all(_ d: AccessDecision) -> [AccessDecision] { Array(repeating: d, count: 5) }

    /// Caller × action → decision per kind, columns: proxied, hosted, chart Stable, chart Beta, no repository.
    static let table: [Who: [RegistryAction: [AccessDecision]]] = [
        .acmeStable: [
            .pull: [.allow, .allow, .allow, channel("Stable"), .nameUnknown],
            .push: all(onlyPull),
            .delete: all(onlyPull),
        ],
        .acmeNoHelm: [
            .pull: [.allow, .allow, noHelm, noHelm, .nameUnknown],
            .push: all(onlyPull),
            .delete: all(onlyPull),
        ],
        .acmeBeta: [
            .pull: [.allow, .allow, channel("Beta"), .allow, .nameUnknown],
            .push: all(onlyPull),
            .delete: all(onlyPull),
        ],
        .acmeExpired: [.pull: all(expired), .push: all(expired), .delete: all(expired)],
        .acmeArchived: [.pull: all(archived), .push: all(archived), .delete: all(archived)],
        .globex: [.pull: all(otherApp), .push: all(otherApp), .delete: all(otherApp)],
        .admin: [
            .pull: [.allow, .allow, .allow, .allow, .nameUnknown],
            .push: [proxiedReadOnly, .allow, chartsAreReleased, chartsAreReleased, .nameUnknown],
            .delete: [proxiedReadOnly, .allow, chartsAreReleased, chartsAreReleased, .nameUnknown],
        ],
        .readOnlyToken: [
            .pull: [.allow, .allow, .allow, .allow, .nameUnknown],
            .push: all(readOnly),
            .delete: all(readOnly),
        ],
        .pushToken: [
            .pull: [.allow, .allow, .allow, .allow, .nameUnknown],
            .push: [proxiedReadOnly, .allow, chartsAreReleased, chartsAreReleased, .nameUnknown],
            .delete: [proxiedReadOnly, .allow, chartsAreReleased, chartsAreReleased, .nameUnknown],
        ],
    ]

    enum Token: String, CaseIterable, Sendable {
        /// Basic credentials: the principal's full rights.
        case none
        /// A bearer token issued for exactly this repository and action.
        case covers
        /// A bearer token with `*` on this repository.
        case wildcard
        /// A bearer token for another repository (with every action), and for this one with another action.
        case doesNotCover

        func access(_ action: RegistryAction, _ name: RepositoryName) -> [TokenAccess]? {
            switch self {
            case .none: nil
            case .covers: [TokenAccess(name: "acme/other", actions: ["pull"]), TokenAccess(name: name.description, actions: [action.rawValue])]
            case .wildcard: [TokenAccess(name: name.description, actions: ["*"])]
            case .doesNotCover:
                [TokenAccess(name: "acme/other", actions: ["pull", "push", "delete", "*"]),
                 TokenAccess(name: name.description, actions: RegistryAction.allCases.filter { $0 != action }.map(\.rawValue)),
                 TokenAccess(type: "registry", name: name.description, actions: [action.rawValue])]
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var who: Who
        var token: Token
        var testDescription: String { "\(who.rawValue), token \(token.rawValue)" }
    }

    static let cases: [Case] = Who.allCases.flatMap { who in Token.allCases.map { Case(who: who, token: $0) } }

    @Test(arguments: cases)
    func decide(_ c: Case) throws {
        let rows = try #require(Self.table[c.who])
        for action in RegistryAction.allCases {
            let row = try #require(rows[action])
            for (column, kind) in Kind.allCases.enumerated() {
                let base = row[column]
                let expected: AccessDecision = switch c.token {
                case .none, .covers, .wildcard: base
                case .doesNotCover: Self.beforeTokenScope.contains(base) ? base : Self.notCovered
                }
                let caller = Caller(principal: c.who.principal, tokenAccess: c.token.access(action, kind.name))
                let decision = AccessRules.decide(caller, action, on: kind.name, kind: kind.kind, now: Self.now)
                #expect(decision == expected, "\(action) on \(kind) (\(kind.name))")
            }
        }
    }

    @Test func aCustomerOfAnotherAppIsDeniedNotChallengedWhateverTheToken() {
        let caller = Caller(principal: Who.globex.principal, tokenAccess: [TokenAccess(name: "globex/api", actions: ["pull"])])
        for kind in Kind.allCases {
            #expect(AccessRules.decide(caller, .pull, on: kind.name, kind: kind.kind, now: Self.now) == Self.otherApp)
        }
    }

    @Test func expiryIsExactToTheSecond() {
        let justValid = Caller(principal: Self.license(expires: Self.now.addingTimeInterval(1)), tokenAccess: nil)
        let justExpired = Caller(principal: Self.license(expires: Self.now), tokenAccess: nil)
        let name = Kind.hosted.name
        #expect(AccessRules.decide(justValid, .pull, on: name, kind: .hosted, now: Self.now) == .allow)
        #expect(AccessRules.decide(justExpired, .pull, on: name, kind: .hosted, now: Self.now) == Self.expired)
        #expect(AccessRules.login(justExpired.principal, now: Self.now) == Self.expired)
        #expect(AccessRules.login(justValid.principal, now: Self.now) == .allow)
        #expect(AccessRules.login(.vendor(canPush: false), now: Self.now) == .allow)
    }

    @Test func archivedWinsOverExpired() {
        let caller = Caller(principal: Self.license(expires: Self.now.addingTimeInterval(-1), archived: true), tokenAccess: nil)
        #expect(AccessRules.decide(caller, .pull, on: Kind.hosted.name, kind: .hosted, now: Self.now) == Self.archived)
    }

    @Test func channelsMatchByNameIgnoringCaseOrBySlug() throws {
        let name = try RepositoryName(parsing: "acme/early-access/web")
        let kind = RepositoryKind.chart(channelName: "Early Access", channelSlug: "early-access")
        for (channel, expected) in [("Early Access", AccessDecision.allow), ("early access", .allow), ("EARLY-ACCESS", .allow),
                                    ("early-access", .allow), ("Stable", Self.channel("Stable")), ("Early", Self.channel("Early"))] {
            let caller = Caller(principal: Self.license(channel: channel), tokenAccess: nil)
            #expect(AccessRules.decide(caller, .pull, on: name, kind: kind, now: Self.now) == expected, "license channel \(channel)")
        }
    }

    @Test func aNameWithoutAnAppIsUnknownToEveryone() throws {
        for text in ["library", "proxy", "proxy/acme"] {
            let name = try RepositoryName(parsing: text)
            for who in [Who.admin, .acmeStable] {
                let caller = Caller(principal: who.principal, tokenAccess: nil)
                #expect(AccessRules.decide(caller, .pull, on: name, kind: .hosted, now: Self.now) == .nameUnknown, "\(text) for \(who)")
            }
        }
    }

    @Test func anonymousCallersPullWhatIsPublicAndNothingElse() throws {
        let anonymous = Caller(principal: .anonymous, tokenAccess: [TokenAccess(name: "acme/api", actions: ["pull"]),
                                                                     TokenAccess(name: "proxy/acme/quay/org/app", actions: ["pull"])])
        let api = try RepositoryName(parsing: "acme/api"), proxied = try RepositoryName(parsing: "proxy/acme/quay/org/app")
        let required = AccessDecision.unauthorized("authentication required")
        #expect(AccessRules.decide(anonymous, .pull, on: api, kind: .hosted, isPublic: true, now: Self.now) == .allow)
        #expect(AccessRules.decide(anonymous, .pull, on: proxied, kind: .proxied, isPublic: true, now: Self.now) == .allow)
        #expect(AccessRules.decide(anonymous, .pull, on: api, kind: .hosted, isPublic: false, now: Self.now) == required)
        #expect(AccessRules.decide(anonymous, .push, on: api, kind: .hosted, isPublic: true, now: Self.now) == required)
        #expect(AccessRules.decide(anonymous, .pull, on: api, kind: .chart(channelName: "Stable", channelSlug: "stable"), isPublic: true,
                                   now: Self.now) == required)
        // The token still bounds what it is good for.
        let other = try RepositoryName(parsing: "acme/other")
        #expect(AccessRules.decide(anonymous, .pull, on: other, kind: .hosted, isPublic: true, now: Self.now)
                == .unauthorized("token does not cover this repository"))
    }

    @Test func anonymousRequestsAreCountedPerAddressPerMinute() {
        let limit = AnonymousRateLimit(limit: 3)
        let start = Self.now
        for _ in 0..<3 { #expect(limit.admit("10.0.0.1", now: start) == nil) }
        #expect(limit.admit("10.0.0.1", now: start.addingTimeInterval(15)) == 45)
        #expect(limit.admit("10.0.0.2", now: start.addingTimeInterval(15)) == nil, "another address has its own budget")
        #expect(limit.admit("10.0.0.1", now: start.addingTimeInterval(61)) == nil, "a new minute, a new budget")
        #expect(AnonymousRateLimit(limit: 0).admit("10.0.0.1") != nil, "0 refuses every anonymous request")
    }

    @Test func mirrorRequestsTakeALicenseAsBasicCredentialsAndOnlyPull() {
        let now = Self.now
        let basic = { (p: Principal) in Caller(principal: p, tokenAccess: nil) }
        #expect(AccessRules.mirror(basic(Self.license()), .pull, now: now) == .allow)
        #expect(AccessRules.mirror(basic(Self.license()), .push, now: now) == .unsupported("mirrors only pull"))
        #expect(AccessRules.mirror(basic(.vendor(canPush: true)), .pull, now: now) == .nameUnknown)
        if case .unauthorized = AccessRules.mirror(basic(Self.license(expires: now.addingTimeInterval(-1))), .pull, now: now) {} else {
            Issue.record("an expired license must be refused")
        }
        let token = Caller(principal: Self.license(), tokenAccess: [TokenAccess(type: "repository", name: "org/api", actions: ["pull"])])
        #expect(AccessRules.mirror(token, .pull, now: now) == .unauthorized("mirror requests take the license as Basic credentials"))
    }
}

@Suite struct AccessRulesHelperTests {
    struct SlugCase: Sendable, CustomTestStringConvertible {
        var name: String
        var app: String?
        var proxied: Bool
        var testDescription: String { name }
    }

    static let slugCases: [SlugCase] = [
        SlugCase(name: "proxy/acme/vendor/org/app", app: "acme", proxied: true),
        SlugCase(name: "proxy/acme/docker.io/library/nginx", app: "acme", proxied: true),
        SlugCase(name: "proxy/acme/nginx", app: "acme", proxied: true),
        SlugCase(name: "proxy/acme", app: nil, proxied: true),
        SlugCase(name: "proxy", app: nil, proxied: true),
        SlugCase(name: "acme/api", app: "acme", proxied: false),
        SlugCase(name: "acme/stable/web", app: "acme", proxied: false),
        SlugCase(name: "acme/proxy/x", app: "acme", proxied: false),
        SlugCase(name: "proxyish/api", app: "proxyish", proxied: false),
        SlugCase(name: "acme", app: nil, proxied: false),
    ]

    @Test(arguments: slugCases)
    func appSlugs(_ c: SlugCase) throws {
        let name = try RepositoryName(parsing: c.name)
        #expect(AccessRules.appSlug(of: name) == c.app)
        #expect(AccessRules.isProxied(name) == c.proxied)
    }

    struct GrantCase: Sendable, CustomTestStringConvertible {
        var label: String
        var principal: Principal
        var scope: String
        var granted: [String]
        var testDescription: String { "\(label): \(scope)" }
    }

    static let now = AccessRulesDecisionTests.now

    static let grantCases: [GrantCase] = [
        GrantCase(label: "admin", principal: .vendor(canPush: true), scope: "repository:acme/api:pull,push,delete,*",
                  granted: ["pull", "push", "delete", "*"]),
        GrantCase(label: "read-only token", principal: .vendor(canPush: false), scope: "repository:acme/api:pull,push,delete,*",
                  granted: ["pull"]),
        GrantCase(label: "read-only token, wildcard only", principal: .vendor(canPush: false), scope: "repository:acme/api:*", granted: []),
        GrantCase(label: "customer", principal: AccessRulesDecisionTests.license(), scope: "repository:acme/api:pull,push,*",
                  granted: ["pull"]),
        GrantCase(label: "customer, proxied", principal: AccessRulesDecisionTests.license(), scope: "repository:proxy/acme/vendor/org/app:pull",
                  granted: ["pull"]),
        GrantCase(label: "customer of another app", principal: AccessRulesDecisionTests.license(app: "globex"),
                  scope: "repository:acme/api:pull", granted: []),
        GrantCase(label: "expired customer", principal: AccessRulesDecisionTests.license(expires: now.addingTimeInterval(-1)),
                  scope: "repository:acme/api:pull", granted: []),
        GrantCase(label: "unknown actions", principal: .vendor(canPush: true), scope: "repository:acme/api:pull,catalog,PUSH",
                  granted: ["pull"]),
        GrantCase(label: "invalid name", principal: .vendor(canPush: true), scope: "repository:Acme/API:pull", granted: []),
        GrantCase(label: "no app", principal: .vendor(canPush: true), scope: "repository:library:pull", granted: []),
    ]

    @Test(arguments: grantCases)
    func grantable(_ c: GrantCase) throws {
        let scope = try #require(RepositoryScope.parseAll(c.scope).first)
        #expect(AccessRules.grantable(scope, to: c.principal, now: Self.now) == c.granted)
    }
}

// MARK: - The resolver over real storage

/// An upstream that must never be contacted while resolving names.
final class UnreachableUpstream: UpstreamRegistry {
    let calls = Atomic(0)

    private func called() throws -> Never {
        calls.add(1, ordering: .relaxed)
        throw UpstreamError.unreachable("the resolver must not contact the upstream")
    }

    func manifestHead(_ target: UpstreamTarget, repository: String, reference: String) async throws -> UpstreamManifestHead { try called() }
    func manifest(_ target: UpstreamTarget, repository: String, reference: String, limit: Int) async throws -> UpstreamManifest { try called() }
    func blob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> UpstreamBlob { try called() }
    func blobSize(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> Int64? { try called() }
    func tagPage(_ target: UpstreamTarget, repository: String, query: [UpstreamQueryItem]) async throws -> UpstreamTagPage { try called() }
    func referrers(_ target: UpstreamTarget, repository: String, digest: Digest, artifactType: String?) async throws -> ByteBuffer? {
        try called()
    }
    func ping(_ target: UpstreamTarget, repository: String) async throws { try called() }
}

struct ResolverFixture {
    let dir: String
    let store: SQLMetadataStore
    let blobs: FileBlobStore
    let secrets: SecretBox
    let upstream: UnreachableUpstream
    let resolver: RepositoryResolver
    let hosted: HostedRegistry
    let acme: AppRecord
    let globex: AppRecord
    let registry: RegistryRecord
    let customer: CustomerRecord

    static func make() async throws -> ResolverFixture {
        let dir = NSTemporaryDirectory() + "resolver-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let logger = Logger(label: "test")
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: logger)
        let blobs = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        let secrets = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        let upstream = UnreachableUpstream()

        let acme = AppRecord(slug: "acme", name: "Acme"), globex = AppRecord(slug: "globex", name: "Globex")
        try await store.createApp(acme)
        try await store.createApp(globex)
        let catalog = ReleaseCatalog(store: store, blobs: blobs)
        for app in [acme, globex] { try await catalog.createDefaultChannels(appID: app.id) }
        let chart = try Gzip.compress(Tar.write([
            TarEntry(path: "web/Chart.yaml", contents: Array("apiVersion: v2\nname: web\nversion: 1.0.0\n".utf8)),
            TarEntry(path: "web/values.yaml", contents: Array("replicas: 1\n".utf8)),
        ]))
        let sequence = try await catalog.createRelease(appID: acme.id, archives: [chart], version: "1.0.0", notes: nil, promoteTo: nil)
        try await catalog.promote(appID: acme.id, sequence: sequence, channel: "Stable", version: "1.0.0", notes: nil)

        let registry = RegistryRecord(name: "vendor", provider: "other", endpoint: "https://registry.vendor.example",
                                      host: "registry.vendor.example", username: nil, sealedSecret: nil, authType: "anonymous",
                                      appIDs: [acme.id])
        try await store.createRegistry(registry)

        let licenseID = "license-acme-0000000001"
        let customer = CustomerRecord(appID: acme.id, name: "Customer", email: "c@example.com", channel: "Stable", type: .paid,
                                      expiresAt: nil, licenseHash: SecretBox.lookupHash(licenseID), sealedLicense: try secrets.seal(licenseID))
        try await store.createCustomer(customer)

        let fills = FillService()
        let proxy = ProxyCache(index: store, visibility: store, blobs: BlobCache(store: blobs, fills: fills, logger: logger), upstream: upstream,
                               policy: ProxyPolicy(), logger: logger)
        let hosted = HostedRegistry(repositories: store, visibility: store, blobs: blobs)
        let resolver = RepositoryResolver(apps: store, customers: store, secrets: secrets,
                                          directory: UpstreamDirectory(store: store, secrets: secrets), proxy: proxy, hosted: hosted,
                                          catalog: catalog, delivery: ChartDelivery(blobs: blobs, index: store, visibility: store),
                                          domains: DomainDirectory(store: store), publicRepositories: store, manifestLimit: 4 << 20)
        return ResolverFixture(dir: dir, store: store, blobs: blobs, secrets: secrets, upstream: upstream, resolver: resolver, hosted: hosted,
                               acme: acme, globex: globex, registry: registry, customer: customer)
    }

    var vendor: Caller { Caller(principal: .vendor(canPush: true), tokenAccess: nil) }
    var acmeCustomer: Caller { Caller(principal: .customer(customer.license(appSlug: "acme")), tokenAccess: nil) }
    var globexCustomer: Caller {
        Caller(principal: .customer(License(customerID: "someone", appID: globex.id, appSlug: "globex", customerName: "G", customerEmail: nil,
                                            channel: "Stable", type: .paid, expiresAt: nil, archived: false, helmInstall: true)),
               tokenAccess: nil)
    }

    func resolve(_ name: String, _ actions: [RegistryAction], as caller: Caller, mountFrom: String? = nil,
                 onDomainOf domainApp: String? = nil) async throws -> ResolvedRepository {
        let request = AccessRequest(name: try RepositoryName(parsing: name), actions: actions,
                                    mountSource: try mountFrom.map { try RepositoryName(parsing: $0) })
        return try await resolver.resolve(request, caller: caller, address: RequestAddress(host: "registry.example.com", domainApp: domainApp))
    }

    func close() async {
        try? await store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

func withResolver(_ body: (ResolverFixture) async throws -> Void) async throws {
    let fixture = try await ResolverFixture.make()
    do {
        try await body(fixture)
    } catch {
        await fixture.close()
        throw error
    }
    await fixture.close()
}

@Suite struct RepositoryResolverTests {
    @Test func onAnAppsCustomDomainOnlyItsRepositoriesExist() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            #expect(try await f.resolve("acme/api", [.pull], as: f.vendor, onDomainOf: "acme").appSlug == "acme")
            for name in ["globex/api", "proxy/globex/vendor/org/app"] {
                let refusal = await #expect(throws: RegistryError.self) { _ = try await f.resolve(name, [.pull], as: f.vendor, onDomainOf: "acme") }
                #expect(refusal?.code == .nameUnknown, "\(name)")
            }
            // The same names on the default host are the other app's to serve.
            #expect(try await f.resolve("globex/api", [.pull], as: f.vendor).appSlug == "globex")
        }
    }

    @Test func aVendorRepositoryIsHostedAndWritable() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            let resolved = try await f.resolve("acme/api", [.pull, .push], as: f.vendor)
            #expect(resolved.kind == .hosted && resolved.appSlug == "acme")
            let writer = try #require(resolved.writer)
            #expect((writer as? HostedRepository)?.name.description == "acme/api")
            // Customers may read it, but get no writer-only rights from it.
            let read = try await f.resolve("acme/api", [.pull], as: f.acmeCustomer)
            #expect(read.kind == .hosted)
        }
    }

    @Test func aReleasedChartIsAChartRepositoryWithoutAWriter() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            for name in ["acme/web", "acme/stable/web"] {
                for caller in [f.vendor, f.acmeCustomer] {
                    let resolved = try await f.resolve(name, [.pull], as: caller)
                    #expect(resolved.kind == .chart(channelName: "Stable", channelSlug: "stable"), "\(name)")
                    #expect(resolved.writer == nil && resolved.appSlug == "acme")
                    #expect(try await resolved.reader.tags() == ["1.0.0"])
                }
            }
            // Released but not promoted to Beta: a chart repository with no versions, which a
            // Stable customer may not see at all.
            let beta = try await f.resolve("acme/beta/web", [.pull], as: f.vendor)
            #expect(beta.kind == .chart(channelName: "Beta", channelSlug: "beta"))
            #expect(try await beta.reader.tags().isEmpty)
            await #expect(throws: AccessRefusal.denied("license is for the Stable channel")) {
                try await f.resolve("acme/beta/web", [.pull], as: f.acmeCustomer)
            }
            // Pushing to a chart is not a thing.
            let refused = await #expect(throws: RegistryError.self) { try await f.resolve("acme/web", [.pull, .push], as: f.vendor) }
            #expect(refused?.code == .unsupported)
        }
    }

    @Test func aProxyPathResolvesToTheRegisteredUpstream() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            let resolved = try await f.resolve("proxy/acme/vendor/org/x", [.pull], as: f.acmeCustomer)
            #expect(resolved.kind == .proxied && resolved.writer == nil && resolved.appSlug == "acme")
            let proxied = try #require(resolved.reader as? ProxiedRepository)
            #expect(proxied.upstream.registry.id == f.registry.id)
            #expect(proxied.upstream.repository == "org/x")
            #expect(proxied.upstream.target.baseURL == "https://registry.vendor.example")
            // By host too.
            let byHost = try await f.resolve("proxy/acme/registry.vendor.example/org/x", [.pull], as: f.vendor)
            #expect((byHost.reader as? ProxiedRepository)?.upstream.registry.id == f.registry.id)
            #expect(f.upstream.calls.load(ordering: .relaxed) == 0, "resolving never contacts the upstream")
        }
    }

    @Test func namesThatResolveToNothingAreUnknown() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            for name in ["nope/api", "proxy/nope/vendor/org/x",
                         // Not a registry of acme's: never becomes an outbound request.
                         "proxy/acme/unregistered/org/x", "proxy/acme/other.example/org/x",
                         // The registry is scoped to acme.
                         "proxy/globex/vendor/org/x"] {
                let error = await #expect(throws: RegistryError.self, "\(name)") { try await f.resolve(name, [.pull], as: f.vendor) }
                #expect(error?.code == .nameUnknown, "\(name)")
            }
            #expect(f.upstream.calls.load(ordering: .relaxed) == 0)
        }
    }

    @Test func aVendorCannotPushToAProxiedRepository() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            let error = await #expect(throws: RegistryError.self) { try await f.resolve("proxy/acme/vendor/org/x", [.pull, .push], as: f.vendor) }
            #expect(error?.code == .unsupported && error?.status == 405)
        }
    }

    @Test func customersOfAnotherAppAreDeniedBeforeAnythingIsLookedUp() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            for name in ["acme/api", "acme/web", "proxy/acme/vendor/org/x", "acme/does-not-exist"] {
                await #expect(throws: AccessRefusal.denied("license does not grant access to this repository"), "\(name)") {
                    try await f.resolve(name, [.pull], as: f.globexCustomer)
                }
            }
            await #expect(throws: AccessRefusal.denied("licenses can only pull")) {
                try await f.resolve("acme/api", [.pull, .push], as: f.acmeCustomer)
            }
        }
    }

    @Test func refusedCallersLearnNothingAboutWhetherANameExists() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            var expired = f.customer
            expired.expiresAt = Date().addingTimeInterval(-60)
            let caller = Caller(principal: .customer(expired.license(appSlug: "acme")), tokenAccess: nil)
            for name in ["acme/api", "nope/api"] {
                await #expect(throws: AccessRefusal.unauthorized("license has expired"), "\(name)") {
                    try await f.resolve(name, [.pull], as: caller)
                }
            }
            let scoped = Caller(principal: .vendor(canPush: true), tokenAccess: [TokenAccess(name: "acme/api", actions: ["pull"])])
            for name in ["acme/other", "nope/api"] {
                await #expect(throws: AccessRefusal.unauthorized("token does not cover this repository"), "\(name)") {
                    try await f.resolve(name, [.pull], as: scoped)
                }
            }
        }
    }

    @Test func aMountSourceInAnotherAppIsRefused() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            // The mount source is checked for pull like any repository: a customer of acme may
            // not name a globex repository even as a source.
            await #expect(throws: AccessRefusal.denied("license does not grant access to this repository")) {
                try await f.resolve("acme/api", [.pull], as: f.acmeCustomer, mountFrom: "globex/api")
            }
            // A token must cover the source as well.
            let scoped = Caller(principal: .vendor(canPush: true), tokenAccess: [TokenAccess(name: "acme/api", actions: ["pull", "push"])])
            await #expect(throws: AccessRefusal.unauthorized("token does not cover this repository")) {
                try await f.resolve("acme/api", [.pull, .push], as: scoped, mountFrom: "globex/api")
            }
            // Vendors may read every app, so the request resolves; the mount itself never crosses apps.
            let bytes = Array("globex layer".utf8)
            let digest = Digest.of(bytes)
            try await f.blobs.put(ByteBuffer(bytes: bytes), as: digest)
            try await f.store.makeVisible(digest, in: .hosted(repository: "globex/api"))
            try await f.store.makeVisible(digest, in: .hosted(repository: "acme/base"))
            let writer = try #require(try await f.resolve("acme/api", [.pull, .push], as: f.vendor, mountFrom: "globex/api").writer)
            #expect(try await writer.mount(digest, from: try RepositoryName(parsing: "globex/api")) == false)
            #expect(try await f.store.isVisible(digest, in: .hosted(repository: "acme/api")) == false)
            #expect(try await writer.mount(digest, from: try RepositoryName(parsing: "acme/base")))
            #expect(try await f.store.isVisible(digest, in: .hosted(repository: "acme/api")))
        }
    }

    @Test func admitFollowsTheLoginRule() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            try f.resolver.admit(f.acmeCustomer.principal)
            try f.resolver.admit(.vendor(canPush: false))
            var archived = f.customer
            archived.archived = true
            #expect(throws: AccessRefusal.unauthorized("license is no longer active")) {
                try f.resolver.admit(.customer(archived.license(appSlug: "acme")))
            }
        }
    }
}
