import Foundation
import Hosting
import Licensing
import Storage

/// A customer's license as the in-cluster SDK receives it.
public struct SDKLicense: Sendable {
    public var view: CustomerView
    public var document: String
    public var fields: [SignedLicenseField]
    public var channel: ChannelRecord?
}

/// An instance as the vendor sees it.
public struct InstanceView: Sendable {
    public var record: InstanceRecord
    public var appSlug: String
    /// Promotions on the customer's channel after the release it runs; nil when it did not say which.
    public var versionsBehind: Int?
    public var active: Bool
}

extension ControlPlane {
    /// The license as it stands now (an expired or archived one too: the SDK says so).
    public func sdkLicense(_ license: License) async throws -> SDKLicense {
        guard let licenseFields else { throw ControlPlaneError.invalid("this server signs no licenses") }
        let view = try await customer(id: license.customerID)
        let current = view.license
        return SDKLicense(view: view,
                          document: try await licenseFields.document(for: current, licenseType: view.customer.type.rawValue,
                                                                     channel: view.customer.channel),
                          fields: try await licenseFields.fields(for: current),
                          channel: try await catalog.channel(appID: view.app.id, named: view.customer.channel))
    }

    /// Releases promoted to the license's channel after the one running, newest first. A position
    /// (`channelSequence`) means something only on the channel it was counted on: when the
    /// running release came from another channel (the customer was moved), or the SDK names the
    /// release instead, the releases after it are found as `instance ls` counts them behind.
    public func channelReleases(_ license: License, after channelSequence: Int?, runningRelease: Int? = nil,
                                runningChannelID: String? = nil) async throws -> [ReleasePlacement] {
        let view = try await customer(id: license.customerID)
        let placements = try await catalog.placements(appID: view.app.id, channel: view.customer.channel)
        let current = try await catalog.channel(appID: view.app.id, named: view.customer.channel)
        if let runningRelease, channelSequence == nil || (runningChannelID != nil && runningChannelID != current?.id) {
            return ReleasePlacement.after(placements, releaseSequence: runningRelease).reversed()
        }
        return placements.filter { $0.channelSequence > (channelSequence ?? -1) }.reversed()
    }

    /// Keeps an instance's check-in and sends what it means: `instance.created` the first time,
    /// `instance.version_behind` once per instance and newest release while it runs an older one.
    /// Instances one license may have on record: more than any customer runs, few enough for
    /// the vendor's pages and the check-in's own lookups. At the limit, a new instance takes the
    /// place of the one silent longest, once that one has been silent a day; before that it is
    /// refused, so a script inventing instance IDs cannot push out the ones that report.
    public static let mostInstances = 1000

    public func recordCheckIn(_ license: License, _ report: InstanceRecord, now: Date = Date()) async throws {
        // Two replicas taking two new instances at the limit at once can both pass: the limit
        // is a bound on what a license piles up, not an exact count.
        let census = try await store.instanceCensus(customerID: license.customerID, instanceID: report.instanceID)
        if census.count >= Self.mostInstances, !census.known {
            guard let silent = try await store.longestSilentInstance(customerID: license.customerID),
                  now.timeIntervalSince(silent.lastCheckinAt) >= 86400 else {
                throw ControlPlaneError.conflict("this license already has \(Self.mostInstances) instances reporting; "
                                                 + "a new one is taken once one of them has been silent for a day")
            }
            try await store.forgetInstance(customerID: license.customerID, instanceID: silent.instanceID)
        }
        var record = report
        record.customerID = license.customerID
        record.appID = license.appID
        record.firstSeenAt = now
        record.lastCheckinAt = now
        let isNew = try await store.recordCheckIn(record)
        guard let webhooks else { return }
        let data = ["customerID": license.customerID, "customer": license.customerName, "app": license.appSlug,
                    "instanceID": record.instanceID, "versionLabel": record.versionLabel ?? ""]
        if isNew, try await store.markNoticeSent("instance.created:\(license.customerID):\(record.instanceID)") {
            webhooks.emit(.instanceCreated, data)
        }
        if let running = record.releaseSequence {
            let placements = try await catalog.placements(appID: license.appID, channel: license.channel)
            let behind = ReleasePlacement.behind(placements, releaseSequence: running)
            if behind > 0, let latest = placements.last,
               try await store.markNoticeSent("instance.version_behind:\(license.customerID):\(record.instanceID):\(latest.releaseSequence)") {
                webhooks.emit(.instanceVersionBehind, data.merging(["versionsBehind": String(behind), "latestVersionLabel": latest.versionLabel],
                                                                   uniquingKeysWith: { $1 }))
            }
        }
    }

    public func instances(customerID: String, inactiveAfter: TimeInterval, now: Date = Date()) async throws -> [InstanceView] {
        let view = try await customer(id: customerID)
        let placements = try await catalog.placements(appID: view.app.id, channel: view.customer.channel)
        return try await store.instances(customerID: customerID).map { record in
            InstanceView(record: record, appSlug: view.app.slug,
                         versionsBehind: record.releaseSequence.map { ReleasePlacement.behind(placements, releaseSequence: $0) },
                         active: now.timeIntervalSince(record.lastCheckinAt) < inactiveAfter)
        }
    }

    /// `instance.inactive`, once for each silence: the notice's key names the last check-in,
    /// so an instance that checks in again and falls silent again is announced again.
    func sendInactiveNotices(inactiveAfter: TimeInterval, now: Date = Date()) async throws {
        guard let webhooks else { return }
        for record in try await store.instances(lastCheckinBefore: now.addingTimeInterval(-inactiveAfter)) {
            let key = "instance.inactive:\(record.customerID):\(record.instanceID):\(Int64(record.lastCheckinAt.timeIntervalSince1970 * 1000))"
            guard try await store.markNoticeSent(key), let customer = try await store.customer(id: record.customerID),
                  let app = try await store.app(id: record.appID) else { continue }
            webhooks.emit(.instanceInactive, ["customerID": record.customerID, "customer": customer.name, "app": app.slug,
                                              "instanceID": record.instanceID,
                                              "lastCheckinAt": ISO8601DateFormatter().string(from: record.lastCheckinAt)])
        }
    }
}
