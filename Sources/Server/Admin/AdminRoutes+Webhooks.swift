import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerWebhooks(on api: RouterGroup<PortcullisContext>) {
        route(API.addWebhook, on: api) { call in
            let created = try await control.addWebhook(url: call.body.url, events: call.body.events)
            return WebhookBody(created.record, secret: created.secret)
        }
        route(API.webhooks, on: api) { _ in
            try await control.webhookList().map { WebhookBody($0, secret: nil) }
        }
        route(API.removeWebhook, on: api) { call in
            try await control.removeWebhook(id: try call.parameter("id"))
            return Nothing()
        }
        route(API.webhookDeliveries, on: api) { call in
            let limit = try call.count("limit", fallback: 100, in: 1...1000)
            return try await control.webhookDeliveries(id: try call.parameter("id"), limit: limit).map {
                WebhookDeliveryBody(eventId: $0.eventID, event: $0.event, attempt: $0.attempt, status: $0.status, error: $0.error, at: $0.at)
            }
        }
        route(API.testWebhook, on: api) { call in
            try await control.testWebhook(id: try call.parameter("id"))
            return Nothing()
        }
    }
}

extension WebhookBody {
    init(_ record: WebhookRecord, secret: String?) {
        self.init(id: record.id, url: record.url, events: record.events, secret: secret, createdAt: record.createdAt)
    }
}
