import Foundation
import Licensing
import OCI

public enum RegistryAction: String, Sendable, Codable, CaseIterable {
    case pull, push, delete
}

/// Who is asking, once their credentials have been checked.
public enum Principal: Sendable, Equatable {
    /// A customer, whatever the standing of its license (the rules decide what that allows).
    case customer(License)
    /// A vendor (admin or vendor API token); `canPush` is false for read-only tokens.
    case vendor(canPush: Bool)
    /// No credentials, with an anonymous token: may pull what the vendor made public, nothing else.
    case anonymous

    public var customerID: String? {
        if case .customer(let l) = self { return l.customerID }
        return nil
    }
}

/// Who a request is from, and what a bearer token limits them to.
public struct Caller: Sendable, Equatable {
    public var principal: Principal
    /// Repositories and actions a bearer token was issued for; nil for Basic credentials,
    /// which carry the principal's full rights.
    public var tokenAccess: [TokenAccess]?

    public init(principal: Principal, tokenAccess: [TokenAccess]?) {
        self.principal = principal
        self.tokenAccess = tokenAccess
    }
}

/// Why a request is refused, in the shape the HTTP layer answers with.
public enum AccessRefusal: Error, Equatable, Sendable {
    /// No usable credentials: 401 with a challenge. Never downgraded to anonymous access.
    case unauthorized(String)
    /// Good credentials that do not cover this: 403.
    case denied(String)

    public var message: String {
        switch self {
        case .unauthorized(let m), .denied(let m): m
        }
    }

    public var isUnauthorized: Bool {
        if case .unauthorized = self { true } else { false }
    }
}

/// What kind of repository a name turned out to be.
public enum RepositoryKind: Equatable, Sendable {
    /// `proxy/<app>/<upstream>/<repo>`: read-only, from the vendor's registry.
    case proxied
    /// `<app>/<repo>`: pushed by the vendor.
    case hosted
    /// `<app>/<channel>/<chart>` or `<app>/<chart>`: a released chart on one channel.
    case chart(channelName: String, channelSlug: String)
    /// `library/<repo>`: Portcullis's own namespace, pulled by anyone. Built in (the SDK
    /// subchart, read-only), or pushed by the vendor (the SDK's image).
    case library(builtIn: Bool)
}

public enum AccessDecision: Equatable, Sendable {
    case allow
    case unauthorized(String)
    case denied(String)
    /// `NAME_UNKNOWN`: the same answer whether the name is absent or merely not the caller's to see.
    case nameUnknown
    /// `UNSUPPORTED`: the repository exists but this action is not something it does.
    case unsupported(String)
}

/// Every access rule of the registry, as pure functions of who asks, what for, and what kind
/// of repository it is. The resolver looks things up and asks these; nothing else decides.
public enum AccessRules {
    /// The app a repository belongs to: `proxy/<app>/…` or `<app>/…`.
    public static func appSlug(of name: RepositoryName) -> String? {
        let parts = name.components
        if parts.first == Substring(ProxyName.prefix) {
            return parts.count >= 3 ? String(parts[1]) : nil
        }
        return parts.count >= 2 ? String(parts[0]) : nil
    }

    public static func isProxied(_ name: RepositoryName) -> Bool {
        name.components.first == Substring(ProxyName.prefix)
    }

    /// Portcullis's own namespace (its slug is reserved, so no app can have it).
    public static let library = "library"

    public static func isLibrary(_ name: RepositoryName) -> Bool {
        name.components.count >= 2 && name.components.first == Substring(library)
    }

    /// Whether a principal may use the registry at all: log in, ping, get tokens.
    public static func login(_ principal: Principal, now: Date) -> AccessDecision {
        if case .customer(let license) = principal, let refusal = license.standing(at: now).refusal {
            return .unauthorized(refusal)
        }
        return .allow
    }

    /// The rules that need no lookup: standing, app ownership, write rights, token scope.
    /// Checked before anything about `name` is looked up, so a refused caller learns nothing
    /// about whether it exists.
    public static func preflight(_ caller: Caller, _ action: RegistryAction, on name: RepositoryName, now: Date) -> AccessDecision {
        let login = login(caller.principal, now: now)
        guard login == .allow else { return login }
        guard let app = appSlug(of: name) else { return .nameUnknown }
        switch caller.principal {
        case .anonymous:
            // Credentials could help: a challenge invites them.
            guard action == .pull else { return .unauthorized("authentication required") }
        case .vendor(let canPush):
            if action != .pull && !canPush { return .denied("token is read-only") }
        case .customer(let license):
            // Refused outright: a new token could never help, so no challenge invites a retry.
            guard app == license.appSlug || app == library else { return .denied("license does not grant access to this repository") }
            guard action == .pull else { return .denied("licenses can only pull") }
        }
        if let granted = caller.tokenAccess, !covers(granted, action, name) {
            // Issued for another scope: a fresh challenge lets the client get one for this.
            return .unauthorized("token does not cover this repository")
        }
        return .allow
    }

    /// On an app's custom domain only that app's repositories exist: the rest are unknown
    /// names, as if the domain were a registry of its own.
    public static func onDomain(of domainApp: String?, _ name: RepositoryName) -> AccessDecision {
        // The library is every app's: vendors' charts name it on their own domains.
        if isLibrary(name) { return .allow }
        return onDomain(of: domainApp, app: appSlug(of: name))
    }

    public static func onDomain(of domainApp: String?, app: String?) -> AccessDecision {
        guard let domainApp else { return .allow }
        return app == domainApp ? .allow : .nameUnknown
    }

    /// A node mirror's request (containerd's `?ns=`): the name is the upstream's own, so the
    /// app is the license's. Only a customer's credentials say which app that is, and only
    /// Basic credentials (from the node's `hosts.toml`) carry them for any repository.
    public static func mirror(_ caller: Caller, _ action: RegistryAction, now: Date) -> AccessDecision {
        let login = login(caller.principal, now: now)
        guard login == .allow else { return login }
        guard case .customer = caller.principal else { return .nameUnknown }
        guard action == .pull else { return .unsupported("mirrors only pull") }
        guard caller.tokenAccess == nil else { return .unauthorized("mirror requests take the license as Basic credentials") }
        return .allow
    }

    /// The full decision once the repository's kind is known (nil: there is no such repository).
    /// `isPublic`: the vendor allows anonymous pulls of this repository.
    public static func decide(_ caller: Caller, _ action: RegistryAction, on name: RepositoryName, kind: RepositoryKind?,
                              isPublic: Bool = false, now: Date) -> AccessDecision {
        let first = preflight(caller, action, on: name, now: now)
        guard first == .allow else { return first }
        guard let kind else { return .nameUnknown }
        if caller.principal == .anonymous {
            if case .chart = kind { return .unauthorized("authentication required") }
            if case .library = kind { return action == .pull ? .allow : .unauthorized("authentication required") }
            return isPublic && action == .pull ? .allow : .unauthorized("authentication required")
        }
        switch kind {
        case .hosted:
            return .allow
        case .proxied:
            return action == .pull ? .allow : .unsupported("proxied repositories are read-only")
        case .chart(let channelName, let channelSlug):
            guard action == .pull else { return .unsupported("charts are published with `portcullis release create`, not pushed") }
            guard case .customer(let license) = caller.principal else { return .allow }
            return chart(license, channelName: channelName, channelSlug: channelSlug)
        case .library(let builtIn):
            if action == .pull { return .allow }
            return builtIn ? .unsupported("this repository is built into Portcullis and read-only") : .allow
        }
    }

    /// A customer's charts: with the Helm entitlement, those of the license's channel only.
    /// The registry and the customer portal's install page both ask this.
    public static func chart(_ license: License, channelName: String, channelSlug: String) -> AccessDecision {
        guard license.helmInstall else { return .denied("license does not include Helm installs") }
        let wanted = license.channel.lowercased()
        guard wanted == channelName.lowercased() || wanted == channelSlug else {
            return .denied("license is for the \(license.channel) channel")
        }
        return .allow
    }

    /// Whether an app may use a registered upstream registry at all (`appIDs` empty: every app).
    public static func mayUse(registryOf appIDs: [String], app appID: String) -> Bool {
        appIDs.isEmpty || appIDs.contains(appID)
    }

    /// A proxied repository: the registry registered for the app, and the repository (as the
    /// upstream names it) inside the vendor's allowlist when there is one. Anything else is an
    /// unknown name, and is decided before any upstream request: Portcullis is no open proxy.
    public static func upstream(registryOf appIDs: [String], allowlist: [String], app appID: String, repository: String) -> AccessDecision {
        guard mayUse(registryOf: appIDs, app: appID) else { return .nameUnknown }
        guard allowlist.isEmpty || allowlist.contains(where: { (try? RepositoryPattern(parsing: $0))?.matches(repository) ?? false }) else {
            return .nameUnknown
        }
        return .allow
    }

    // MARK: Beyond the registry API: bundles and the customer portal

    /// An air-gap bundle (`GET /bundles/<app>/<sequence>`): a license of that app in good standing.
    public static func bundle(_ principal: Principal, app: String, now: Date) -> AccessDecision {
        let login = login(principal, now: now)
        guard login == .allow else { return login }
        guard case .customer(let license) = principal, license.appSlug == app else {
            return .denied("a bundle is downloaded with a license of its app")
        }
        return .allow
    }

    /// The in-cluster SDK (`/sdk/v1`): a license reads its own license and its channel's
    /// releases whatever its standing (so the SDK can tell the application it expired), and
    /// reports instances only for its own app.
    public static func sdk(_ principal: Principal, reportingFor app: String? = nil) -> AccessDecision {
        switch principal {
        case .anonymous: return .unauthorized("the SDK authenticates with a license ID")
        case .vendor: return .denied("the SDK authenticates with a customer's license, not a vendor credential")
        case .customer(let license):
            if let app, app != license.appSlug { return .denied("this license is for another app; it cannot report for \(app)") }
            return .allow
        }
    }

    /// The customer portal (`/account`), at sign-in and on every page after: a license in good
    /// standing, and on an app's custom domain only that app's licenses.
    public static func account(_ license: License, domainApp: String?, now: Date) -> AccessDecision {
        if let refusal = license.standing(at: now).refusal { return .unauthorized(refusal) }
        if let domainApp, domainApp != license.appSlug { return .denied("this license is for another app's registry") }
        return .allow
    }

    /// The actions of a requested token scope a principal may have (the token endpoint grants
    /// exactly these; the token is then checked again on every request).
    public static func grantable(_ scope: RepositoryScope, to principal: Principal, now: Date) -> [String] {
        guard let name = try? RepositoryName(parsing: scope.name) else { return [] }
        let caller = Caller(principal: principal, tokenAccess: nil)
        return scope.actions.filter { action in
            let asked: RegistryAction? = action == "*" ? .delete : RegistryAction(rawValue: action)
            guard let asked else { return false }
            return preflight(caller, asked, on: name, now: now) == .allow
        }
    }

    static func covers(_ granted: [TokenAccess], _ action: RegistryAction, _ name: RepositoryName) -> Bool {
        granted.contains { $0.type == "repository" && $0.name == name.description && ($0.actions.contains(action.rawValue) || $0.actions.contains("*")) }
    }
}
