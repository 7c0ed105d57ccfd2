import ControlPlane
import Foundation
import Hummingbird
import Licensing
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerCustomers(on api: RouterGroup<PortcullisContext>) {
        route(API.createCustomer, on: api) { call in
            let body = call.body
            let fields = try await control.validateFields(app: body.app, body.fields ?? [:])
            var draft = CustomerDraft(app: body.app, name: body.name, email: body.email, channel: body.channel, type: body.type,
                                      expiresAt: body.expiresAt, helmInstall: body.helmInstall)
            draft.allowDuplicate = body.allowDuplicate ?? false
            let view = try await control.createCustomer(draft)
            if !fields.isEmpty { try await control.setCustomerFields(customerID: view.customer.id, fields) }
            return CustomerBody(view)
        }
        route(API.customers, on: api) { call in
            try await control.customers(appSlug: call.query("app")).map(CustomerBody.init)
        }
        route(API.customer, on: api) { call in
            CustomerBody(try await control.customer(id: try call.parameter("id")))
        }
        route(API.updateCustomer, on: api) { call in
            let body = call.body
            let patch = CustomerPatch(name: body.name, email: body.email, channel: body.channel, type: body.type, expiresAt: body.expiresAt,
                                      clearExpiry: body.clearExpiry == true, archived: body.archived, helmInstall: body.helmInstall)
            let id = try call.parameter("id")
            if let fields = body.fields { try await control.setCustomerFields(customerID: id, fields) }
            return CustomerBody(try await control.updateCustomer(id: id, patch))
        }
        route(API.archiveCustomer, on: api) { call in
            CustomerBody(try await control.updateCustomer(id: try call.parameter("id"), CustomerPatch(archived: true)))
        }
        route(API.unarchiveCustomer, on: api) { call in
            CustomerBody(try await control.updateCustomer(id: try call.parameter("id"), CustomerPatch(archived: false)))
        }
        route(API.pullSecret, on: api) { call in
            let host = publicHost(call.request)
            let secret = try await control.pullSecret(customerID: try call.parameter("id"), host: host)
            return PullSecretBody(host: host, dockerconfigjson: secret.json, base64: secret.base64)
        }
        route(API.mirrorConfig, on: api) { call in
            let address = PublicAddress(configuration: c.configuration, request: call.request)
            let server = call.query("server") ?? "\(address.scheme)://\(address.host)"
            let files = try await control.mirrorConfig(customerID: try call.parameter("id"), upstreams: call.queryAll("upstream"),
                                                       mirrorURL: server, caPath: call.query("ca"))
            return files.map { MirrorHostsBody(host: $0.host, path: $0.path, contents: $0.contents) }
        }
        route(API.customerPullSummary, on: api) { call in
            let days = try summaryDays(call)
            let counts = try await control.pullCounts(customerID: try call.parameter("id"), days: days)
            return PullSummaryBody(counting: counts.map(PullSummaryBody.Count.init), days: days, byCustomer: false)
        }
        route(API.pullSummary, on: api) { call in
            let days = try summaryDays(call)
            let counts = try await control.pullCounts(customerID: nil, days: days)
            return PullSummaryBody(counting: counts.map(PullSummaryBody.Count.init), days: days, byCustomer: true)
        }
        route(API.customerInstances, on: api) { call in
            try await control.instances(customerID: try call.parameter("id"), inactiveAfter: c.configuration.instanceInactiveAfter)
                .map(InstanceBody.init)
        }
        route(API.customerPulls, on: api) { call in
            let limit = try call.count("limit", fallback: 100, in: 1...10_000)
            return try await control.pulls(customerID: try call.parameter("id"), limit: limit).map(PullBody.init)
        }
    }
}

extension CustomerBody {
    init(_ view: CustomerView) {
        let c = view.customer
        self.init(id: c.id, app: view.app.slug, name: c.name, email: c.email, channel: c.channel, type: c.type.rawValue,
                  expiresAt: c.expiresAt, archived: c.archived, helmInstall: c.helmInstall, status: view.standing.label, licenseId: view.licenseID,
                  createdAt: c.createdAt, updatedAt: c.updatedAt)
    }
}

extension PullBody {
    init(_ p: PullRecord) {
        self.init(id: p.id, at: p.at, customerID: p.customerID, appSlug: p.appSlug, repository: p.repository, reference: p.reference,
                  action: p.action, status: p.status, bytes: p.bytes, reason: p.reason)
    }
}

/// `?days=N`, 1 to 366, 14 when not given.
private func summaryDays(_ call: APICall<Nothing>) throws -> Int {
    try call.count("days", fallback: 14, in: 1...366)
}

extension PullSummaryBody.Count {
    init(_ c: PullDayCount) {
        self.init(day: c.day, customerID: c.customerID, repository: c.repository, reason: c.reason, requests: c.requests, refused: c.refused,
                  bytes: c.bytes, lastAt: c.lastAt)
    }
}

extension InstanceBody {
    init(_ view: InstanceView) {
        let r = view.record
        self.init(instanceID: r.instanceID, customerID: r.customerID, app: view.appSlug, clusterID: r.clusterID, firstSeenAt: r.firstSeenAt,
                  lastCheckinAt: r.lastCheckinAt, versionLabel: r.versionLabel, releaseSequence: r.releaseSequence,
                  channelSequence: r.channelSequence, versionsBehind: view.versionsBehind, appStatus: r.appStatus, k8sVersion: r.k8sVersion,
                  k8sDistribution: r.k8sDistribution,
                  customMetrics: r.customMetrics.compactMapValues { try? APICoding.decoder.decode(JSONScalar.self, from: Data($0.utf8)) },
                  tags: r.tags, active: view.active)
    }
}
