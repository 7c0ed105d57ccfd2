import Foundation

/// Authorization header values per (registry, scope), kept until shortly before they
/// expire. Concurrent requests that miss share one fetch, so a burst of pulls costs the
/// registry's token endpoint one request, not one per pull.
public actor UpstreamTokenCache {
    private struct Entry {
        var authorization: String
        var expires: Date
    }

    private var entries: [String: Entry] = [:]
    private var inFlight: [String: Task<(authorization: String, lifetime: TimeInterval), any Error>] = [:]
    private let maxEntries = 10_000

    public init() {}

    private func key(_ registry: String, _ scope: String) -> String { registry + "\n" + scope }

    public func authorization(registry: String, scope: String, now: Date = Date()) -> String? {
        guard let entry = entries[key(registry, scope)] else { return nil }
        return entry.expires > now ? entry.authorization : nil
    }

    /// The cached value, or the result of `fetch`, which runs once however many callers wait for it.
    public func authorization(registry: String, scope: String,
                              fetch: @escaping @Sendable () async throws -> (authorization: String, lifetime: TimeInterval)) async throws -> String {
        if let cached = authorization(registry: registry, scope: scope) { return cached }
        let k = key(registry, scope)
        let task: Task<(authorization: String, lifetime: TimeInterval), any Error>
        if let running = inFlight[k] {
            task = running
        } else {
            task = Task { try await fetch() }
            inFlight[k] = task
        }
        do {
            let fetched = try await task.value
            if inFlight[k] == task {
                inFlight[k] = nil
                store(registry: registry, scope: scope, authorization: fetched.authorization, lifetime: fetched.lifetime)
            }
            return fetched.authorization
        } catch {
            if inFlight[k] == task { inFlight[k] = nil }
            throw error
        }
    }

    public func store(registry: String, scope: String, authorization: String, lifetime: TimeInterval, now: Date = Date()) {
        if entries.count >= maxEntries {
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= maxEntries { entries.removeAll() }
        }
        // Renew a little early so a token never expires between check and use.
        let margin = min(10, lifetime / 4)
        entries[key(registry, scope)] = Entry(authorization: authorization, expires: now.addingTimeInterval(lifetime - margin))
    }

    /// Every entry of a registry, whatever its scope and the credentials it was got with (the
    /// registry's credentials changed or it was removed). `registry` is the target's id.
    public func forgetAll(registry: String) {
        let plain = registry + "\n", versioned = registry + "#"
        entries = entries.filter { !$0.key.hasPrefix(plain) && !$0.key.hasPrefix(versioned) }
    }

    public func forget(registry: String, scope: String) {
        entries[key(registry, scope)] = nil
    }

    /// Forgets the cached value only while it is still `authorization` (the one a registry
    /// just refused), so a newer value stored by a concurrent request survives.
    public func forget(registry: String, scope: String, ifStill authorization: String) {
        let k = key(registry, scope)
        if entries[k]?.authorization == authorization { entries[k] = nil }
    }
}
