import Foundation
import Storage

/// Which app a custom domain belongs to, and which domains an app has, kept in memory in
/// front of the store (every registry request asks). Another replica's changes are seen within
/// `refreshInterval`; this replica's at once (`invalidate`).
public actor DomainDirectory {
    private let store: any DomainStore
    private let refreshInterval: TimeInterval
    private var cached: [DomainRecord]?
    private var loadedAt = Date.distantPast

    public init(store: any DomainStore, refreshInterval: TimeInterval = 10) {
        self.store = store
        self.refreshInterval = refreshInterval
    }

    public func invalidate() { cached = nil }

    public func all() async throws -> [DomainRecord] {
        if let cached, Date().timeIntervalSince(loadedAt) < refreshInterval { return cached }
        let fresh = try await store.domains()
        cached = fresh
        loadedAt = Date()
        return fresh
    }

    /// The domain a request's `Host` names (any port ignored), if it is one.
    public func domain(forHost host: String) async throws -> DomainRecord? {
        let name = Self.hostName(host)
        return try await all().first { $0.name == name }
    }

    /// The app's domains, oldest first.
    public func names(ofApp appID: String) async throws -> [String] {
        try await all().filter { $0.appID == appID }.sorted { $0.createdAt < $1.createdAt }.map(\.name)
    }

    /// `host[:port]` → `host`, lowercased (IPv6 literals keep their brackets).
    static func hostName(_ host: String) -> String {
        let lower = host.lowercased()
        if lower.hasPrefix("["), let close = lower.firstIndex(of: "]") { return String(lower[...close]) }
        return String(lower.split(separator: ":", maxSplits: 1).first ?? Substring(lower))
    }
}
