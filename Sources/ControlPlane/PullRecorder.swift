import Foundation
import Logging
import ServiceLifecycle
import Storage

/// Writes pull records in batches off the request path, flushing on shutdown.
public actor PullRecorder: Service {
    private let log: any PullLog
    private let logger: Logger
    private var pending: [PullRecord] = []
    private let batchSize = 200
    private let webhooks: WebhookDispatcher?
    /// Refused requests of one customer within an hour that make a `pull.refused` event.
    private let refusedPerHour: Int
    private var refusals: [String: (hour: Int, count: Int)] = [:]
    /// How long raw records are kept (their per-day counts stay); nil: for good.
    private let retention: TimeInterval?
    private var prunedAt = Date.distantPast

    public init(log: any PullLog, webhooks: WebhookDispatcher? = nil, refusedPerHour: Int = 20, retention: TimeInterval? = nil, logger: Logger) {
        self.log = log
        self.retention = retention
        self.webhooks = webhooks
        self.refusedPerHour = refusedPerHour
        self.logger = logger
    }

    /// Refusals of callers who proved nothing, counted per day and kind of refusal only: a
    /// stranger's requests to made-up names cost no row each, and what they cost is bounded.
    private var strangers: [String: PullDayCount] = [:]

    public func addStrangerRefusal(status: Int, at: Date = Date()) {
        let kind = switch status {
        case 401: "refused: no valid credentials"
        case 403: "refused: not allowed"
        case 404: "refused: not found"
        case 429: "refused: rate limited"
        default: "refused: HTTP \(status)"
        }
        let day = Date(timeIntervalSince1970: (at.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
        let key = "\(day.timeIntervalSince1970) \(kind)"
        var count = strangers[key] ?? PullDayCount(day: day, customerID: nil, appSlug: nil, repository: "", reason: kind, requests: 0,
                                                    refused: 0, bytes: 0, lastAt: at)
        count.requests += 1
        count.refused += 1
        count.lastAt = max(count.lastAt, at)
        strangers[key] = count
    }

    public func add(_ record: PullRecord) {
        pending.append(record)
        if pending.count >= batchSize { Task { await self.flush() } }
        if record.status >= 400, let customer = record.customerID, let webhooks { countRefusal(record, customer: customer, webhooks) }
    }

    /// One event when a customer's refused requests reach the threshold within a clock hour.
    private func countRefusal(_ record: PullRecord, customer: String, _ webhooks: WebhookDispatcher) {
        let hour = Int(record.at.timeIntervalSince1970 / 3600)
        var entry = refusals[customer].flatMap { $0.hour == hour ? $0 : nil } ?? (hour: hour, count: 0)
        entry.count += 1
        if refusals.count > 100_000 { refusals.removeAll() }
        refusals[customer] = entry
        if entry.count == refusedPerHour {
            webhooks.emit(.pullRefused, ["customerID": customer, "app": record.appSlug ?? "", "refusedThisHour": String(entry.count),
                                         "lastReason": record.reason ?? "HTTP \(record.status)", "repository": record.repository])
        }
    }

    public func flush() async {
        if !strangers.isEmpty {
            let counts = Array(strangers.values)
            strangers.removeAll()
            do { try await log.addDayCounts(counts) } catch is CancellationError {
                // Shutting down mid-write: kept for the final flush.
                for count in counts { strangers["\(count.day.timeIntervalSince1970) \(count.reason ?? "")"] = count }
            } catch {
                logger.error("could not write refusal counts", metadata: ["error": "\(error)"])
            }
        }
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        do {
            try await log.record(batch)
        } catch is CancellationError {
            // Shutting down mid-write: keep the batch for the final flush.
            pending.insert(contentsOf: batch, at: 0)
        } catch {
            logger.error("could not write pull records", metadata: ["count": "\(batch.count)", "error": "\(error)"])
        }
    }

    /// Drops raw records past the retention, at most once a minute.
    func pruneIfDue(now: Date = Date()) async {
        guard let retention, now.timeIntervalSince(prunedAt) >= 60 else { return }
        prunedAt = now
        do {
            let dropped = try await log.deletePulls(before: now.addingTimeInterval(-retention))
            if dropped > 0 { logger.info("dropped raw pull records past retention", metadata: ["count": "\(dropped)"]) }
        } catch {
            logger.warning("could not drop old pull records", metadata: ["error": "\(error)"])
        }
    }

    public func run() async throws {
        // Flush at least every half second, and once more when the service group shuts down.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                await self.flush()
                await self.pruneIfDue()
            }
        }
        // Not cancelled with this service: the last records are written whatever happens around it.
        await Task { await self.flush() }.value
    }
}
