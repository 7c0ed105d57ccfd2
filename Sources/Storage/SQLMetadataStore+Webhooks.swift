import Foundation
import SQLKit

extension SQLMetadataStore {
    public func createWebhook(_ w: WebhookRecord) async throws {
        try await db.raw("""
            INSERT INTO webhooks (id, url, events, sealed_secret, created_at)
            VALUES (\(bind: w.id), \(bind: w.url), \(bind: w.events.joined(separator: " ")), \(bind: w.sealedSecret), \(bind: w.createdAt.millis))
            """).run()
    }

    public func webhooks() async throws -> [WebhookRecord] {
        try await db.raw("SELECT * FROM webhooks ORDER BY created_at").all().map { row in
            WebhookRecord(id: try row.decode(column: "id", as: String.self), url: try row.decode(column: "url", as: String.self),
                          events: try row.decode(column: "events", as: String.self).split(separator: " ").map(String.init),
                          sealedSecret: try row.decode(column: "sealed_secret", as: String.self),
                          createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    public func deleteWebhook(id: String) async throws -> Bool {
        let existed = try await db.raw("SELECT id FROM webhooks WHERE id = \(bind: id)").first() != nil
        try await db.raw("DELETE FROM webhook_deliveries WHERE webhook_id = \(bind: id)").run()
        try await db.raw("DELETE FROM webhooks WHERE id = \(bind: id)").run()
        return existed
    }

    public func recordDelivery(_ d: WebhookDeliveryRecord) async throws {
        try await db.raw("""
            INSERT INTO webhook_deliveries (webhook_id, event_id, event, attempt, status, error, at)
            VALUES (\(bind: d.webhookID), \(bind: d.eventID), \(bind: d.event), \(bind: Int64(d.attempt)), \(bind: d.status.map(Int64.init)),
                    \(bind: d.error), \(bind: d.at.millis))
            """).run()
    }

    public func deliveries(webhookID: String, limit: Int) async throws -> [WebhookDeliveryRecord] {
        try await db.raw("""
            SELECT * FROM webhook_deliveries WHERE webhook_id = \(bind: webhookID) ORDER BY at DESC LIMIT \(bind: limit)
            """).all().map { row in
            WebhookDeliveryRecord(webhookID: webhookID, eventID: try row.decode(column: "event_id", as: String.self),
                                  event: try row.decode(column: "event", as: String.self),
                                  attempt: Int(try row.decode(column: "attempt", as: Int64.self)),
                                  status: try row.decode(column: "status", as: Int64?.self).map(Int.init),
                                  error: try row.decode(column: "error", as: String?.self),
                                  at: Date(millis: try row.decode(column: "at", as: Int64.self)))
        }
    }

    public func markNoticeSent(_ key: String) async throws -> Bool {
        let inserted = try await db.raw("""
            INSERT INTO notices_sent (notice_key, at) VALUES (\(bind: key), \(bind: Date().millis)) ON CONFLICT (notice_key) DO NOTHING RETURNING notice_key
            """).first()
        return inserted != nil
    }
}
