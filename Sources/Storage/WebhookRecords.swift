import Foundation

/// Where the vendor wants to be told about events, and which ones.
public struct WebhookRecord: Sendable, Equatable {
    public var id: String
    public var url: String
    public var events: [String]
    /// The HMAC key payloads are signed with, sealed.
    public var sealedSecret: String
    public var createdAt: Date

    public init(id: String = UUID().uuidString.lowercased(), url: String, events: [String], sealedSecret: String, createdAt: Date = Date()) {
        self.id = id
        self.url = url
        self.events = events
        self.sealedSecret = sealedSecret
        self.createdAt = createdAt
    }
}

/// One attempt to deliver an event to a webhook.
public struct WebhookDeliveryRecord: Sendable, Equatable {
    public var webhookID: String
    public var eventID: String
    public var event: String
    public var attempt: Int
    /// The receiver's HTTP status; nil when it could not be reached.
    public var status: Int?
    public var error: String?
    public var at: Date

    public init(webhookID: String, eventID: String, event: String, attempt: Int, status: Int?, error: String?, at: Date = Date()) {
        self.webhookID = webhookID
        self.eventID = eventID
        self.event = event
        self.attempt = attempt
        self.status = status
        self.error = error
        self.at = at
    }
}

public protocol WebhookStore: Sendable {
    func createWebhook(_ webhook: WebhookRecord) async throws
    func webhooks() async throws -> [WebhookRecord]
    func deleteWebhook(id: String) async throws -> Bool
    func recordDelivery(_ delivery: WebhookDeliveryRecord) async throws
    func deliveries(webhookID: String, limit: Int) async throws -> [WebhookDeliveryRecord]
    /// Records that a once-only notice was sent; false when it already had been (on any replica).
    func markNoticeSent(_ key: String) async throws -> Bool
}
