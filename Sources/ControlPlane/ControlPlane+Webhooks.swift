import Foundation
import Storage

extension ControlPlane {
    /// Registers a webhook; the signing secret is returned this once.
    public func addWebhook(url: String, events: [String]) async throws -> (record: WebhookRecord, secret: String) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
              parsed.host?.isEmpty == false else {
            throw ControlPlaneError.invalid("webhook URLs are http:// or https:// URLs with a host")
        }
        // Deliveries carry no credentials of the URL's (they would be logged and listed as the URL);
        // a receiver knows Portcullis by the signature.
        guard parsed.user == nil, parsed.password == nil else {
            throw ControlPlaneError.invalid("webhook URLs cannot carry credentials (user:password@); receivers check the Portcullis-Signature header")
        }
        guard !events.isEmpty else {
            throw ControlPlaneError.invalid("name at least one event: " + WebhookEvent.allCases.filter { $0 != .test }.map(\.rawValue).joined(separator: ", "))
        }
        for event in events where WebhookEvent(rawValue: event) == nil || event == WebhookEvent.test.rawValue {
            throw ControlPlaneError.invalid("unknown event \(event.debugDescription); use "
                                            + WebhookEvent.allCases.filter { $0 != .test }.map(\.rawValue).joined(separator: ", "))
        }
        try await checkDestination(url, what: "webhook host")
        let secret = Self.randomToken()
        let record = WebhookRecord(url: url, events: Array(Set(events)).sorted(), sealedSecret: try secrets.seal(secret))
        try await store.createWebhook(record)
        logger.info("webhook added", metadata: ["webhook": "\(record.id)", "events": "\(record.events)"])
        return (record, secret)
    }

    public func webhookList() async throws -> [WebhookRecord] { try await store.webhooks() }

    public func removeWebhook(id: String) async throws {
        guard try await store.deleteWebhook(id: id) else { throw ControlPlaneError.notFound("webhook \(id) not found") }
    }

    public func webhookDeliveries(id: String, limit: Int = 100) async throws -> [WebhookDeliveryRecord] {
        guard try await store.webhooks().contains(where: { $0.id == id }) else { throw ControlPlaneError.notFound("webhook \(id) not found") }
        return try await store.deliveries(webhookID: id, limit: min(max(limit, 1), 1000))
    }

    /// Queues a `webhook.test` event for one webhook.
    public func testWebhook(id: String) async throws {
        guard try await store.webhooks().contains(where: { $0.id == id }) else { throw ControlPlaneError.notFound("webhook \(id) not found") }
        guard let webhooks else { throw ControlPlaneError.invalid("this server delivers no webhooks") }
        webhooks.emit(.test, ["message": "a test event from Portcullis"], only: id)
    }
}
