import Foundation
import SQLKit

extension SQLMetadataStore {
    public func recordCheckIn(_ i: InstanceRecord) async throws -> Bool {
        let metrics = Self.encodeMap(i.customMetrics), tags = Self.encodeMap(i.tags)
        let known = try await db.raw("""
            SELECT first_seen FROM instances WHERE customer_id = \(bind: i.customerID) AND instance_id = \(bind: i.instanceID)
            """).first() != nil
        // One statement either way: two replicas taking the first check-in of one instance at once both succeed.
        try await db.raw("""
            INSERT INTO instances (customer_id, instance_id, app_id, cluster_id, first_seen, last_checkin, version_label, release_sequence,
                channel_sequence, channel_id, app_status, k8s_version, k8s_distribution, custom_metrics, tags)
            VALUES (\(bind: i.customerID), \(bind: i.instanceID), \(bind: i.appID), \(bind: i.clusterID), \(bind: i.firstSeenAt.millis),
                \(bind: i.lastCheckinAt.millis), \(bind: i.versionLabel), \(bind: i.releaseSequence.map(Int64.init)),
                \(bind: i.channelSequence.map(Int64.init)), \(bind: i.channelID), \(bind: i.appStatus), \(bind: i.k8sVersion),
                \(bind: i.k8sDistribution), \(bind: metrics), \(bind: tags))
            ON CONFLICT (customer_id, instance_id) DO UPDATE SET cluster_id = excluded.cluster_id, last_checkin = excluded.last_checkin,
                version_label = excluded.version_label, release_sequence = excluded.release_sequence,
                channel_sequence = excluded.channel_sequence, channel_id = excluded.channel_id, app_status = excluded.app_status,
                k8s_version = excluded.k8s_version, k8s_distribution = excluded.k8s_distribution,
                custom_metrics = excluded.custom_metrics, tags = excluded.tags
            """).run()
        return !known
    }

    public func instances(customerID: String) async throws -> [InstanceRecord] {
        try await db.raw("SELECT * FROM instances WHERE customer_id = \(bind: customerID) ORDER BY first_seen").all().map(Self.instance)
    }

    public func instances(lastCheckinBefore cutoff: Date) async throws -> [InstanceRecord] {
        try await db.raw("SELECT * FROM instances WHERE last_checkin < \(bind: cutoff.millis)").all().map(Self.instance)
    }

    public func forgetInstance(customerID: String, instanceID: String) async throws {
        try await db.raw("DELETE FROM instances WHERE customer_id = \(bind: customerID) AND instance_id = \(bind: instanceID)").run()
    }

    public func instanceCensus(customerID: String, instanceID: String) async throws -> (count: Int, known: Bool) {
        let row = try await db.raw("""
            SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN instance_id = \(bind: instanceID) THEN 1 ELSE 0 END), 0) AS known
            FROM instances WHERE customer_id = \(bind: customerID)
            """).first()
        let total = try row?.decode(column: "total", as: Int64.self) ?? 0
        let known = try row?.decode(column: "known", as: Int64.self) ?? 0
        return (Int(total), known > 0)
    }

    public func longestSilentInstance(customerID: String) async throws -> InstanceRecord? {
        try await db.raw("SELECT * FROM instances WHERE customer_id = \(bind: customerID) ORDER BY last_checkin LIMIT 1")
            .first().map(Self.instance)
    }

    static func instance(_ row: any SQLRow) throws -> InstanceRecord {
        InstanceRecord(
            customerID: try row.decode(column: "customer_id", as: String.self), instanceID: try row.decode(column: "instance_id", as: String.self),
            appID: try row.decode(column: "app_id", as: String.self), clusterID: try row.decode(column: "cluster_id", as: String?.self),
            firstSeenAt: Date(millis: try row.decode(column: "first_seen", as: Int64.self)),
            lastCheckinAt: Date(millis: try row.decode(column: "last_checkin", as: Int64.self)),
            versionLabel: try row.decode(column: "version_label", as: String?.self),
            releaseSequence: try row.decode(column: "release_sequence", as: Int64?.self).map(Int.init),
            channelSequence: try row.decode(column: "channel_sequence", as: Int64?.self).map(Int.init),
            channelID: try row.decode(column: "channel_id", as: String?.self), appStatus: try row.decode(column: "app_status", as: String?.self),
            k8sVersion: try row.decode(column: "k8s_version", as: String?.self),
            k8sDistribution: try row.decode(column: "k8s_distribution", as: String?.self),
            customMetrics: decodeMap(try row.decode(column: "custom_metrics", as: String?.self)),
            tags: decodeMap(try row.decode(column: "tags", as: String?.self)))
    }

    static func encodeMap(_ map: [String: String]) -> String {
        (try? String(decoding: JSONSerialization.data(withJSONObject: map, options: [.sortedKeys]), as: UTF8.self)) ?? "{}"
    }

    static func decodeMap(_ text: String?) -> [String: String] {
        guard let text, let data = text.data(using: .utf8) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: String] ?? [:]
    }
}
