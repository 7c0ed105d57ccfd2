import ControlPlane
import Crypto
import Foundation
import Logging
import Storage
import Synchronization
import Testing

/// Records posts and answers each with the next status of a script (200 when the script runs out).
final class RecordingWebhookTransport: WebhookTransport {
    struct Post: Sendable {
        var url: String
        var headers: [String: String]
        var body: [UInt8]
    }

    let posts = Mutex<[Post]>([])
    let script: Mutex<[Int]>

    init(statuses: [Int] = []) { script = Mutex(statuses) }

    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        posts.withLock { $0.append(Post(url: url, headers: Dictionary(headers) { a, _ in a }, body: body)) }
        return script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
    }
}

struct WebhookDispatcherTests {
    func withDispatcher(statuses: [Int] = [], backoff: [Duration] = [.milliseconds(10), .milliseconds(10)],
                        _ body: (WebhookDispatcher, SQLMetadataStore, SecretBox, RecordingWebhookTransport) async throws -> Void)
        async throws {
        let dir = NSTemporaryDirectory() + "webhooks-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/metadata.sqlite", logger: Logger(label: "test"))
        let secrets = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        let transport = RecordingWebhookTransport(statuses: statuses)
        let dispatcher = WebhookDispatcher(store: store, secrets: secrets, transport: transport, logger: Logger(label: "test"),
                                           backoff: backoff)
        let running = Task { try await dispatcher.run() }
        do { try await body(dispatcher, store, secrets, transport) } catch {
            running.cancel()
            try? await store.close()
            throw error
        }
        running.cancel()
        try? await store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<300 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func subscribersGetSignedPayloadsAndOthersNothing() async throws {
        try await withDispatcher { dispatcher, store, secrets, transport in
            try await store.createWebhook(WebhookRecord(id: "a", url: "http://receiver/a", events: ["customer.created"], sealedSecret: try secrets.seal("key-a")))
            try await store.createWebhook(WebhookRecord(id: "b", url: "http://receiver/b", events: ["release.promoted"], sealedSecret: try secrets.seal("key-b")))
            dispatcher.emit(.customerCreated, ["customer": "Globex"])
            try await waitFor { transport.posts.withLock { !$0.isEmpty } }
            try await Task.sleep(for: .milliseconds(100))
            let posts = transport.posts.withLock { $0 }
            #expect(posts.map(\.url) == ["http://receiver/a"])
            let post = try #require(posts.first)
            let signature = try #require(post.headers["Portcullis-Signature"])
            let t = try #require(Int(signature.split(separator: ",")[0].dropFirst(2)))
            #expect(signature == WebhookSignature.value(secret: "key-a", timestamp: t, body: post.body))
            let mac = HMAC<SHA256>.authenticationCode(for: Array("\(t).".utf8) + post.body, using: SymmetricKey(data: Array("key-a".utf8)))
            #expect(signature.hasSuffix(mac.map { String(format: "%02x", $0) }.joined()), "HMAC-SHA256 of \"<t>.<body>\"")
            let json = try JSONSerialization.jsonObject(with: Data(post.body)) as? [String: Any]
            #expect(json?["event"] as? String == "customer.created")
            #expect((json?["data"] as? [String: String])?["customer"] == "Globex")
        }
    }

    @Test func failuresAreRetriedWithBackoffAndEveryAttemptIsRecorded() async throws {
        try await withDispatcher(statuses: [500, 503]) { dispatcher, store, secrets, transport in
            try await store.createWebhook(WebhookRecord(id: "a", url: "http://receiver/a", events: ["release.promoted"], sealedSecret: try secrets.seal("k")))
            dispatcher.emit(.releasePromoted, ["app": "acme"])
            try await waitFor { transport.posts.withLock { $0.count >= 3 } }
            try await Task.sleep(for: .milliseconds(50))
            let attempts = try await store.deliveries(webhookID: "a", limit: 10).sorted { $0.attempt < $1.attempt }
            #expect(attempts.map(\.attempt) == [1, 2, 3])
            #expect(attempts.map(\.status) == [500, 503, 200])
            #expect(Set(attempts.map(\.eventID)).count == 1, "one event, three attempts")
        }
    }

    /// Removing a webhook ends its deliveries: a retry due after the removal is not sent.
    @Test func aRemovedWebhookGetsNoRetry() async throws {
        // The first retry is due well after the removal, however busy the machine.
        try await withDispatcher(statuses: [500, 500, 500], backoff: [.milliseconds(500), .milliseconds(500)]) { dispatcher, store, secrets, transport in
            try await store.createWebhook(WebhookRecord(id: "a", url: "http://receiver/a", events: ["release.promoted"], sealedSecret: try secrets.seal("k")))
            dispatcher.emit(.releasePromoted, ["app": "acme"])
            try await waitFor { transport.posts.withLock { !$0.isEmpty } }
            #expect(try await store.deleteWebhook(id: "a"))
            try await Task.sleep(for: .milliseconds(1500))
            #expect(transport.posts.withLock { $0.count } == 1, "the retries went to a removed webhook")
        }
    }

    /// Receivers that hang (each attempt until its timeout, then failing) hold a slot per attempt,
    /// not through their retries' waits: a healthy webhook's delivery is not queued behind them.
    @Test func hangingReceiversDoNotHoldUpAHealthyOne() async throws {
        final class HangingTransport: WebhookTransport {
            let delivered = Mutex<[String: ContinuousClock.Instant]>([:])
            func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
                if url.contains("hang") {
                    try await Task.sleep(for: .milliseconds(300))
                    throw CancellationError()
                }
                delivered.withLock { $0[url] = .now }
                return 200
            }
        }
        let dir = NSTemporaryDirectory() + "webhooks-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/metadata.sqlite", logger: Logger(label: "test"))
        let secrets = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        let transport = HangingTransport()
        // Long waits between attempts: holding a slot through them would keep the healthy one out for seconds.
        let dispatcher = WebhookDispatcher(store: store, secrets: secrets, transport: transport, logger: Logger(label: "test"),
                                           backoff: [.seconds(3), .seconds(3)])
        for i in 0..<24 {
            try await store.createWebhook(WebhookRecord(id: "hang-\(i)", url: "http://receiver/hang/\(i)", events: ["customer.unarchived"],
                                                        sealedSecret: try secrets.seal("k")))
        }
        try await store.createWebhook(WebhookRecord(id: "zz-healthy", url: "http://receiver/ok", events: ["customer.unarchived"],
                                                    sealedSecret: try secrets.seal("k")))
        let running = Task { try await dispatcher.run() }
        let emitted = ContinuousClock.now
        dispatcher.emit(.customerUnarchived, ["customer": "Globex"])
        for _ in 0..<800 where transport.delivered.withLock({ $0["http://receiver/ok"] == nil }) { try await Task.sleep(for: .milliseconds(10)) }
        let waited = try #require(transport.delivered.withLock { $0["http://receiver/ok"] }) - emitted
        running.cancel()
        try? await store.close()
        try? FileManager.default.removeItem(atPath: dir)
        // Holding slots through the 3 s backoff would make it at least 3.6 s.
        #expect(waited < .milliseconds(2500), "the healthy webhook waited \(waited)")
    }

    @Test func throttledEventsGoOutOncePerInterval() async throws {
        try await withDispatcher { dispatcher, store, secrets, transport in
            try await store.createWebhook(WebhookRecord(id: "a", url: "http://r/a", events: ["upstream.auth_failed"], sealedSecret: try secrets.seal("k")))
            let now = Date()
            for offset in [0.0, 10, 3599] { dispatcher.emit(.upstreamAuthFailed, [:], oncePer: 3600, key: "reg", now: now.addingTimeInterval(offset)) }
            dispatcher.emit(.upstreamAuthFailed, [:], oncePer: 3600, key: "reg", now: now.addingTimeInterval(3601))
            try await waitFor { transport.posts.withLock { $0.count >= 2 } }
            try await Task.sleep(for: .milliseconds(100))
            #expect(transport.posts.withLock { $0.count } == 2)
        }
    }

    @Test func noticesAreMarkedOnceAcrossCalls() async throws {
        try await withDispatcher { _, store, _, _ in
            let first = try await store.markNoticeSent("license.expiring:c1:7")
            let again = try await store.markNoticeSent("license.expiring:c1:7")
            let other = try await store.markNoticeSent("license.expiring:c1:1")
            #expect(first && !again && other)
        }
    }
}
