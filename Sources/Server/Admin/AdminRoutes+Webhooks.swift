import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerWebhooks(on api: RouterGroup<PortcullisContext>) {
        api.post("/webhooks") { request, context in
            let body = try await decode(CreateWebhookRequest.self, request, context)
            let created = try await control.addWebhook(url: body.url, events: body.events)
            return try json(WebhookBody(created.record, secret: created.secret), status: .created)
        }
        api.get("/webhooks") { _, _ in
            try json(try await control.webhookList().map { WebhookBody($0, secret: nil) })
        }
        api.delete("/webhooks/:id") { _, context in
            try await control.removeWebhook(id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        api.get("/webhooks/:id/deliveries") { request, context in
            let limit = request.uri.queryParameters["limit"].flatMap { Int($0) } ?? 100
            return try json(try await control.webhookDeliveries(id: try context.parameters.require("id"), limit: limit).map {
                WebhookDeliveryBody(eventId: $0.eventID, event: $0.event, attempt: $0.attempt, status: $0.status, error: $0.error, at: $0.at)
            })
        }
        api.post("/webhooks/:id/test") { _, context in
            try await control.testWebhook(id: try context.parameters.require("id"))
            return Response(status: .accepted)
        }
    }
}

extension WebhookBody {
    init(_ record: WebhookRecord, secret: String?) {
        self.init(id: record.id, url: record.url, events: record.events, secret: secret, createdAt: record.createdAt)
    }
}
