import Synchronization

/// Runs `operation` on a task of its own and answers its result, or throws `timedOut()` once
/// `limit` has passed without one. The operation goes on either way: what waits on a socket
/// nobody answers (a frozen database, a Portcullis the cluster cannot reach) cannot be
/// cancelled, only stopped waiting for. (A task group would not do: it waits for all its
/// children, and waiting on a task's value ignores cancellation.)
public func withDeadline<T: Sendable>(_ limit: Duration, timedOut: @escaping @Sendable () -> any Error,
                                      _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let first = FirstOnly()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let timer = Task {
            try await Task.sleep(for: limit)
            if first.claim() { continuation.resume(throwing: timedOut()) }
        }
        Task {
            do {
                let value = try await operation()
                if first.claim() { continuation.resume(returning: value) }
            } catch {
                if first.claim() { continuation.resume(throwing: error) }
            }
            timer.cancel()
        }
    }
}

/// The one of two racers that may resume a continuation: the first to claim.
private final class FirstOnly: Sendable {
    private let resumed = Mutex(false)

    func claim() -> Bool {
        resumed.withLock { was in
            defer { was = true }
            return !was
        }
    }
}
