import OCI

public enum RegistryAction: String, Sendable, Codable {
    case pull, push, delete
}

/// Who is asking, once their credentials have been checked.
public enum Principal: Sendable, Equatable {
    case customer(License)
    /// A vendor (admin or vendor API token); `canPush` is false for read-only tokens.
    case vendor(canPush: Bool)

    public var customerID: String? {
        if case .customer(let l) = self { return l.customerID }
        return nil
    }
}

/// The single place that decides whether a principal may act on a repository.
public enum AccessPolicy {
    public enum Decision: Equatable, Sendable {
        case allow
        /// Authenticated but not permitted. The message never says whether the repository exists.
        case deny(String)
    }

    /// The app a repository belongs to: `proxy/<app>/…` or `<app>/…`.
    public static func appSlug(of name: RepositoryName) -> String? {
        let parts = name.components
        if parts.first == Substring(ProxyName.prefix) {
            return parts.count >= 3 ? String(parts[1]) : nil
        }
        return parts.count >= 2 ? String(parts[0]) : nil
    }

    public static func isProxy(_ name: RepositoryName) -> Bool {
        name.components.first == Substring(ProxyName.prefix)
    }

    public static func decide(_ principal: Principal, _ action: RegistryAction, on name: RepositoryName) -> Decision {
        switch principal {
        case .vendor(let canPush):
            if action == .pull || canPush { return .allow }
            return .deny("token is read-only")
        case .customer(let license):
            guard action == .pull else { return .deny("licenses can only pull") }
            guard let app = appSlug(of: name), app == license.appSlug else {
                return .deny("license does not grant access to this repository")
            }
            return .allow
        }
    }
}
