import Logging
import ServiceLifecycle
import Storage

/// Writes pull records in batches off the request path, flushing on shutdown.
public actor PullRecorder: Service {
    private let log: any PullLog
    private let logger: Logger
    private var pending: [PullRecord] = []
    private let batchSize = 200

    public init(log: any PullLog, logger: Logger) {
        self.log = log
        self.logger = logger
    }

    public func add(_ record: PullRecord) {
        pending.append(record)
        if pending.count >= batchSize { Task { await self.flush() } }
    }

    public func flush() async {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        do {
            try await log.record(batch)
        } catch {
            logger.error("could not write pull records", metadata: ["count": "\(batch.count)", "error": "\(error)"])
        }
    }

    public func run() async throws {
        // Flush at least every half second, and once more when the service group shuts down.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                await self.flush()
            }
        }
        await flush()
    }
}
