import Foundation

public struct CreateWebhookRequest: Codable, Sendable {
    public var url: String
    public var events: [String]

    public init(url: String, events: [String]) {
        self.url = url
        self.events = events
    }
}

public struct WebhookBody: Codable, Sendable, Equatable {
    public var id: String
    public var url: String
    public var events: [String]
    /// The HMAC-SHA256 signing secret: only in the answer to its creation.
    public var secret: String?
    public var createdAt: Date

    public init(id: String, url: String, events: [String], secret: String?, createdAt: Date) {
        self.id = id
        self.url = url
        self.events = events
        self.secret = secret
        self.createdAt = createdAt
    }
}

public struct WebhookDeliveryBody: Codable, Sendable, Equatable {
    public var eventId: String
    public var event: String
    public var attempt: Int
    public var status: Int?
    public var error: String?
    public var at: Date

    public init(eventId: String, event: String, attempt: Int, status: Int?, error: String?, at: Date) {
        self.eventId = eventId
        self.event = event
        self.attempt = attempt
        self.status = status
        self.error = error
        self.at = at
    }
}
