import Crypto
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// What a vendor can be told about.
public enum WebhookEvent: String, CaseIterable, Sendable {
    case licenseExpiring = "license.expiring"
    case customerCreated = "customer.created"
    case customerArchived = "customer.archived"
    case customerUnarchived = "customer.unarchived"
    case releasePromoted = "release.promoted"
    case pullRefused = "pull.refused"
    case upstreamAuthFailed = "upstream.auth_failed"
    /// An instance's first check-in.
    case instanceCreated = "instance.created"
    /// An instance that has not checked in for `--instance-inactive-after`.
    case instanceInactive = "instance.inactive"
    /// An instance running a release older than its channel's latest.
    case instanceVersionBehind = "instance.version_behind"
    /// Sent by `webhook test`, whatever the webhook subscribes to.
    case test = "webhook.test"
}

/// Posts an event's JSON to a URL: the seam between delivery logic and HTTP.
public protocol WebhookTransport: Sendable {
    /// The receiver's status; throws when it cannot be reached or does not answer in time.
    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int
}

/// How deliveries are signed: `Portcullis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">` with the webhook's secret, so a receiver can check origin and freshness.
public enum WebhookSignature {
    public static let header = "Portcullis-Signature"

    public static func value(secret: String, timestamp: Int, body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}

/// Delivers events to the webhooks that subscribe to them, off the request path: `emit` only
/// queues (a full queue drops the oldest, logged), a bounded number of attempts run at once,
/// every attempt recorded. A failed attempt is queued again once its backoff has passed, so a
/// receiver that hangs holds a slot for one attempt's timeout, never for its retries' waits (thirty
/// dead receivers once kept a healthy one waiting five minutes); each attempt goes only to a
/// webhook that still exists, so removing one ends its deliveries; shutting down abandons the
/// attempts under way.
public final class WebhookDispatcher: Service, Sendable {
    struct Event: Sendable {
        var id: String
        var kind: WebhookEvent
        var at: Date
        var data: [String: String]
        /// Only this webhook (a test send, or a retry); nil: every subscriber.
        var only: String?
        /// 1 for the first attempt; a retry is the same event for one webhook, its attempt counted.
        var attempt = 1
    }

    private let store: any WebhookStore
    private let secrets: SecretBox
    private let transport: any WebhookTransport
    private let logger: Logger
    private let queue: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    /// Waits between attempts; the last failure is final.
    let backoff: [Duration]
    let concurrency = 16

    public init(store: any WebhookStore, secrets: SecretBox, transport: any WebhookTransport, logger: Logger,
                backoff: [Duration] = [.seconds(1), .seconds(5), .seconds(30), .seconds(120)]) {
        self.store = store
        self.secrets = secrets
        self.transport = transport
        self.logger = logger
        self.backoff = backoff
        (queue, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Keys of throttled events and when each was last emitted.
    private let lastEmitted = Mutex<[String: Date]>([:])

    /// Emits at most once per `interval` for `key` on this replica (for events that would
    /// otherwise repeat with every request, such as refused upstream credentials).
    public func emit(_ kind: WebhookEvent, _ data: [String: String], oncePer interval: TimeInterval, key: String, now: Date = Date()) {
        let due = lastEmitted.withLock { last in
            if let at = last[key], now.timeIntervalSince(at) < interval { return false }
            if last.count > 10_000 { last.removeAll() }
            last[key] = now
            return true
        }
        if due { emit(kind, data) }
    }

    /// Queues an event; returns at once.
    public func emit(_ kind: WebhookEvent, _ data: [String: String], only webhookID: String? = nil) {
        let event = Event(id: UUID().uuidString.lowercased(), kind: kind, at: Date(), data: data, only: webhookID)
        if case .dropped = continuation.yield(event) {
            logger.warning("webhook queue full: oldest event dropped", metadata: ["event": "\(kind.rawValue)"])
        }
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for await event in queue.cancelOnGracefulShutdown() {
                // Read for every event: a webhook removed since gets no further attempt.
                let hooks = (try? await store.webhooks()) ?? []
                for hook in hooks where event.only.map({ $0 == hook.id }) ?? hook.events.contains(event.kind.rawValue) {
                    // Bounded: a slow receiver holds a slot, never the request path.
                    if inFlight >= concurrency {
                        await group.next()
                        inFlight -= 1
                    }
                    group.addTask { [self] in await attempt(event, to: hook) }
                    inFlight += 1
                }
            }
            group.cancelAll()
        }
    }

    func payload(_ event: Event) -> [UInt8] {
        struct Body: Encodable {
            var id: String
            var event: String
            var at: Date
            var data: [String: String]
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(Body(id: event.id, event: event.kind.rawValue, at: event.at, data: event.data))) ?? Data())
    }

    /// One attempt; a failure is queued again for this webhook alone once its backoff has passed.
    func attempt(_ event: Event, to hook: WebhookRecord) async {
        guard let secret = try? secrets.open(hook.sealedSecret) else { return }
        let body = payload(event)
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [("Content-Type", "application/json"), ("User-Agent", "portcullis-webhooks"),
                       ("Portcullis-Event", event.kind.rawValue), ("Portcullis-Delivery", event.id),
                       (WebhookSignature.header, WebhookSignature.value(secret: secret, timestamp: timestamp, body: body))]
        var status: Int?
        var failure: String?
        do {
            status = try await transport.post(url: hook.url, headers: headers, body: body)
        } catch {
            failure = String(describing: error).prefix(200).description
        }
        try? await store.recordDelivery(WebhookDeliveryRecord(webhookID: hook.id, eventID: event.id, event: event.kind.rawValue,
                                                              attempt: event.attempt, status: status, error: failure))
        if let status, (200..<300).contains(status) { return }
        guard !Task.isCancelled, event.attempt <= backoff.count else {
            logger.warning("webhook delivery failed", metadata: ["webhook": "\(hook.id)", "event": "\(event.kind.rawValue)"])
            return
        }
        var retry = event
        retry.only = hook.id
        retry.attempt += 1
        let wait = backoff[event.attempt - 1], queue = continuation
        // The wait is no slot's: it sleeps on a task of its own and queues the retry when due.
        Task {
            try? await Task.sleep(for: wait)
            queue.yield(retry)
        }
    }
}

/// Emits `license.expiring` once for each of 30, 7 and 1 days before a license runs out (the
/// smallest threshold reached; larger ones are then not sent late), checked periodically.
/// Also emits `instance.inactive` for instances silent for `inactiveAfter`.
public struct ExpiryNotices: Service {
    let control: ControlPlane
    let interval: Duration
    let inactiveAfter: TimeInterval?

    public init(control: ControlPlane, interval: Duration, inactiveAfter: TimeInterval? = nil) {
        self.control = control
        self.interval = interval
        self.inactiveAfter = inactiveAfter
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await control.sendExpiryNotices()
            if let inactiveAfter { try? await control.sendInactiveNotices(inactiveAfter: inactiveAfter) }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
        }
    }
}

extension ControlPlane {
    static let expiryThresholds = [30, 7, 1]

    func sendExpiryNotices(now: Date = Date()) async throws {
        guard let webhooks else { return }
        for view in try await customers(appSlug: nil) {
            guard let expires = view.customer.expiresAt, !view.customer.archived, expires > now else { continue }
            let daysLeft = expires.timeIntervalSince(now) / 86_400
            guard let threshold = Self.expiryThresholds.filter({ daysLeft <= Double($0) }).min() else { continue }
            var fresh = false
            for t in Self.expiryThresholds where t >= threshold {
                if try await store.markNoticeSent("license.expiring:\(view.customer.id):\(t)") && t == threshold { fresh = true }
            }
            if fresh {
                webhooks.emit(.licenseExpiring, ["customerID": view.customer.id, "customer": view.customer.name, "app": view.app.slug,
                                                 "expiresAt": ISO8601DateFormatter().string(from: expires), "withinDays": String(threshold)])
            }
        }
    }
}
