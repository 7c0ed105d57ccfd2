import Foundation

/// Authorization header values per (registry, scope), kept until shortly before they expire.
actor UpstreamTokenCache {
    private struct Entry {
        var authorization: String
        var expires: Date
    }

    private var entries: [String: Entry] = [:]
    private let maxEntries = 10_000

    func authorization(registry: String, scope: String, now: Date = Date()) -> String? {
        guard let entry = entries[registry + "\n" + scope] else { return nil }
        return entry.expires > now ? entry.authorization : nil
    }

    func store(registry: String, scope: String, authorization: String, lifetime: TimeInterval, now: Date = Date()) {
        if entries.count >= maxEntries {
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= maxEntries { entries.removeAll() }
        }
        // Renew a little early so a token never expires between check and use.
        let margin = min(10, lifetime / 4)
        entries[registry + "\n" + scope] = Entry(authorization: authorization, expires: now.addingTimeInterval(lifetime - margin))
    }

    func forget(registry: String, scope: String) {
        entries[registry + "\n" + scope] = nil
    }
}
