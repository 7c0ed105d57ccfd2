import ServiceLifecycle

/// Runs blob fills in a task group of its own, so fills outlive the requests that start
/// them and graceful shutdown knows about them: after the signal no new fill starts, and
/// the ones under way finish (or are cancelled when the shutdown grace runs out).
public final class FillService: Service, Sendable {
    public typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>
    private let submissions: AsyncStream<Job>.Continuation

    public init() {
        (jobs, submissions) = AsyncStream.makeStream(of: Job.self)
    }

    /// Queues a fill; false once the service has stopped taking work.
    func submit(_ job: @escaping Job) -> Bool {
        if case .enqueued = submissions.yield(job) { return true }
        return false
    }

    public func run() async throws {
        let jobs = self.jobs
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await job in jobs {
                    group.addTask { await job() }
                }
            }
        } onGracefulShutdown: {
            self.submissions.finish()
        }
    }
}
