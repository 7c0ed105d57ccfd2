import OCI
import Synchronization

/// What cached content clients are pulling: recency, gathered in memory and written in
/// batches (never a database write per blob GET), and what is in use, which eviction leaves
/// alone: content being read out, and content pulled since the batch before last (a response
/// may have opened it and not started reading yet).
public final class CacheUsage: Sendable {
    private struct State {
        var pulled: Set<Digest> = []
        var previouslyPulled: Set<Digest> = []
        var serving: [Digest: Int] = [:]
        var evicting: Set<Digest> = []

        func isInUse(_ digest: Digest) -> Bool {
            serving[digest] != nil || pulled.contains(digest) || previouslyPulled.contains(digest)
        }
    }
    private let state = Mutex(State())

    public init() {}

    /// Marks content as pulled, before it is opened: eviction then leaves it alone. When it is
    /// being evicted at this moment, waits for that to finish, so the caller finds it gone and
    /// fetches it again rather than opening bytes about to be deleted.
    public func claim(_ digest: Digest) async {
        while state.withLock({ state in
            if state.evicting.contains(digest) { return true }
            state.pulled.insert(digest)
            return false
        }) {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The digests pulled since the last call.
    func takePulled() -> [Digest] {
        state.withLock { state in
            state.previouslyPulled = state.pulled
            state.pulled.removeAll(keepingCapacity: true)
            return Array(state.previouslyPulled)
        }
    }

    /// Brackets a response that reads the blob from the store as it goes.
    public func serving<T>(_ digest: Digest, _ body: () async throws -> T) async rethrows -> T {
        state.withLock { $0.serving[digest, default: 0] += 1 }
        defer {
            state.withLock { state in
                let left = (state.serving[digest] ?? 1) - 1
                state.serving[digest] = left > 0 ? left : nil
            }
        }
        return try await body()
    }

    func isInUse(_ digest: Digest) -> Bool {
        state.withLock { $0.isInUse(digest) }
    }

    /// Reserves content for eviction unless it is in use; `endEviction` lets claims through again.
    func beginEviction(_ digest: Digest) -> Bool {
        state.withLock { state in
            guard !state.isInUse(digest) else { return false }
            state.evicting.insert(digest)
            return true
        }
    }

    func endEviction(_ digest: Digest) {
        state.withLock { _ = $0.evicting.remove(digest) }
    }
}
