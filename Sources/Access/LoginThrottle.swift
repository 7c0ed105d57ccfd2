import Foundation
import Storage

/// Counts failed logins per source address and per credential, and says when a key has
/// failed too often. Valid credentials are never throttled: the gate only asks this after
/// a login has failed, so a guesser is slowed and a customer is not.
///
/// Replicas count together through `shared` (the database), so a guesser gains nothing by
/// spreading attempts over them; while the database cannot answer, each counts alone.
public actor LoginThrottle {
    private let limit: Int
    private let window: TimeInterval
    private let shared: (any LoginFailureStore)?
    private var failures: [String: [Date]] = [:]

    public init(limit: Int, window: TimeInterval = 60, shared: (any LoginFailureStore)? = nil) {
        self.limit = limit
        self.window = window
        self.shared = shared
    }

    /// Records a failure for each key and returns how long to wait when any key is over the limit.
    public func recordFailure(keys: [String], now: Date = Date()) async -> TimeInterval? {
        guard limit > 0 else { return nil }
        if let shared, let counts = try? await shared.recordLoginFailure(keys: keys, at: now, since: now.addingTimeInterval(-window)) {
            return counts.values.filter { $0.count > limit }.map { window - now.timeIntervalSince($0.oldest) }.max()
        }
        return recordLocally(keys: keys, now: now)
    }

    /// How long to wait when any key is already over the limit, recording nothing: asked before
    /// a password is checked, so guesses past the limit cost no hashing and are refused even
    /// when right.
    public func retryAfter(keys: [String], now: Date = Date()) async -> TimeInterval? {
        guard limit > 0 else { return nil }
        if let shared, let counts = try? await shared.loginFailures(keys: keys, since: now.addingTimeInterval(-window)) {
            return counts.values.filter { $0.count >= limit }.map { max(1, window - now.timeIntervalSince($0.oldest)) }.max()
        }
        var retryAfter: TimeInterval?
        for key in keys {
            let times = failures[key, default: []].filter { now.timeIntervalSince($0) < window }
            if times.count >= limit, let oldest = times.first {
                retryAfter = max(retryAfter ?? 0, max(1, window - now.timeIntervalSince(oldest)))
            }
        }
        return retryAfter
    }

    private func recordLocally(keys: [String], now: Date) -> TimeInterval? {
        if failures.count > 100_000 { prune(now: now) }
        var retryAfter: TimeInterval?
        for key in keys {
            var times = failures[key, default: []].filter { now.timeIntervalSince($0) < window }
            times.append(now)
            if times.count > limit { times.removeFirst(times.count - limit - 1) }
            failures[key] = times
            if times.count > limit, let oldest = times.first {
                retryAfter = max(retryAfter ?? 0, window - now.timeIntervalSince(oldest))
            }
        }
        return retryAfter
    }

    private func prune(now: Date) {
        failures = failures.filter { $0.value.contains { now.timeIntervalSince($0) < window } }
    }
}
