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

/// The decisions made outside the registry API (bundles, the customer portal, upstream
/// registries) come from the same file, and agree with the registry's.
@Suite struct AccessRulesBeyondRegistryTests {
    static let now = AccessRulesDecisionTests.now
    typealias Who = AccessRulesDecisionTests.Who

    @Test(arguments: Who.allCases)
    func bundlesOnlyForAValidLicenseOfTheirApp(_ who: Who) {
        let decision = AccessRules.bundle(who.principal, app: "acme", now: Self.now)
        switch who {
        case .acmeStable, .acmeNoHelm, .acmeBeta: #expect(decision == .allow)
        case .acmeExpired, .acmeArchived: #expect(decision == .unauthorized(who == .acmeExpired ? "license has expired" : "license is no longer active"))
        case .globex, .admin, .readOnlyToken, .pushToken: #expect(decision == .denied("a bundle is downloaded with a license of its app"))
        }
        #expect(AccessRules.bundle(.anonymous, app: "acme", now: Self.now) != .allow)
    }

    @Test(arguments: Who.allCases)
    func theAccountPortalWantsStandingAndTheDomainsApp(_ who: Who) throws {
        guard case .customer(let license) = who.principal else { return }
        let standing = license.standing(at: Self.now)
        #expect((AccessRules.account(license, domainApp: nil, now: Self.now) == .allow) == standing.isActive)
        if standing.isActive {
            #expect(AccessRules.account(license, domainApp: license.appSlug, now: Self.now) == .allow)
            #expect(AccessRules.account(license, domainApp: license.appSlug == "acme" ? "globex" : "acme", now: Self.now)
                    == .denied("this license is for another app's registry"))
        }
    }

    /// The install page lists charts exactly when the registry would serve them.
    @Test(arguments: Who.allCases)
    func installableChartsAgreeWithTheRegistry(_ who: Who) throws {
        guard case .customer(let license) = who.principal, license.standing(at: Self.now).isActive else { return }
        let name = try RepositoryName(parsing: "\(license.appSlug)/stable/app")
        let registry = AccessRules.decide(Caller(principal: who.principal, tokenAccess: nil), .pull, on: name,
                                          kind: .chart(channelName: "Stable", channelSlug: "stable"), now: Self.now)
        let portal = AccessRules.chart(license, channelName: "Stable", channelSlug: "stable")
        #expect(registry == portal)
        #expect((portal == .allow) == (license.helmInstall && license.channel == "Stable"))
    }

    @Test func upstreamsAreTheAppsAndInsideTheAllowlist() {
        #expect(AccessRules.upstream(registryOf: [], allowlist: [], app: "a", repository: "x/y") == .allow)
        #expect(AccessRules.upstream(registryOf: ["a"], allowlist: [], app: "a", repository: "x/y") == .allow)
        #expect(AccessRules.upstream(registryOf: ["b"], allowlist: [], app: "a", repository: "x/y") == .nameUnknown)
        #expect(AccessRules.upstream(registryOf: [], allowlist: ["acme/*"], app: "a", repository: "acme/api") == .allow)
        #expect(AccessRules.upstream(registryOf: [], allowlist: ["acme/*"], app: "a", repository: "other/api") == .nameUnknown)
        // A pattern that does not parse allows nothing rather than everything.
        #expect(AccessRules.upstream(registryOf: [], allowlist: ["[bad"], app: "a", repository: "[bad") == .nameUnknown)
        #expect(AccessRules.mayUse(registryOf: ["b", "a"], app: "a") && !AccessRules.mayUse(registryOf: ["b"], app: "a"))
    }
}
