import Foundation
import Synchronization

/// How many requests anonymous clients may make per source address per minute: public content
/// is open, but not to one address pulling without end. A fixed one-minute window per address;
/// the answer when over is how long until the window ends.
public final class AnonymousRateLimit: Sendable {
    private struct Window {
        var start: Date
        var count: Int
    }

    private let limit: Int
    private let windows = Mutex<[String: Window]>([:])
    private let maxAddresses = 100_000

    /// `limit` requests a minute; 0 turns anonymous access off entirely.
    public init(limit: Int) {
        self.limit = limit
    }

    /// Counts a request from `address`; returns nil when it may go ahead, else seconds to wait.
    public func admit(_ address: String, now: Date = Date()) -> TimeInterval? {
        guard limit > 0 else { return 60 }
        return windows.withLock { windows in
            if windows.count >= maxAddresses { windows = windows.filter { now.timeIntervalSince($0.value.start) < 60 } }
            var window = windows[address] ?? Window(start: now, count: 0)
            if now.timeIntervalSince(window.start) >= 60 { window = Window(start: now, count: 0) }
            guard window.count < limit else { return max(1, 60 - now.timeIntervalSince(window.start)) }
            window.count += 1
            windows[address] = window
            return nil
        }
    }
}
