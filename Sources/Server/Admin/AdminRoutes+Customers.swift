import ControlPlane
import Foundation
import Hummingbird
import Licensing
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerCustomers(on api: RouterGroup<PortcullisContext>) {
        api.post("/customers") { request, context in
            let body = try await decode(CreateCustomerRequest.self, request, context)
            let fields = try await control.validateFields(app: body.app, body.fields ?? [:])
            let view = try await control.createCustomer(CustomerDraft(
                app: body.app, name: body.name, email: body.email, channel: body.channel, type: body.type, expiresAt: body.expiresAt,
                helmInstall: body.helmInstall))
            if !fields.isEmpty { try await control.setCustomerFields(customerID: view.customer.id, fields) }
            return try json(CustomerBody(view), status: .created)
        }
        api.get("/customers") { request, _ in
            let app = request.uri.queryParameters["app"].map(String.init)
            return try json(try await control.customers(appSlug: app).map(CustomerBody.init))
        }
        api.get("/customers/:id") { _, context in
            try json(CustomerBody(try await control.customer(id: try context.parameters.require("id"))))
        }
        api.patch("/customers/:id") { request, context in
            let body = try await decode(UpdateCustomerRequest.self, request, context)
            let patch = CustomerPatch(name: body.name, email: body.email, channel: body.channel, type: body.type, expiresAt: body.expiresAt,
                                      clearExpiry: body.clearExpiry == true, archived: body.archived, helmInstall: body.helmInstall)
            let id = try context.parameters.require("id")
            if let fields = body.fields { try await control.setCustomerFields(customerID: id, fields) }
            return try json(CustomerBody(try await control.updateCustomer(id: id, patch)))
        }
        api.post("/customers/:id/archive") { _, context in
            try json(CustomerBody(try await control.updateCustomer(id: try context.parameters.require("id"), CustomerPatch(archived: true))))
        }
        api.post("/customers/:id/unarchive") { _, context in
            try json(CustomerBody(try await control.updateCustomer(id: try context.parameters.require("id"), CustomerPatch(archived: false))))
        }
        api.get("/customers/:id/pull-secret") { request, context in
            let host = publicHost(request)
            let secret = try await control.pullSecret(customerID: try context.parameters.require("id"), host: host)
            return try json(PullSecretBody(host: host, dockerconfigjson: secret.json, base64: secret.base64))
        }
        api.get("/customers/:id/mirror-config") { request, context in
            let address = PublicAddress(configuration: c.configuration, request: request)
            let upstreams = request.uri.queryParameters.getAll("upstream").map { String($0) }
            let server = request.uri.queryParameters["server"].map(String.init) ?? "\(address.scheme)://\(address.host)"
            let files = try await control.mirrorConfig(customerID: try context.parameters.require("id"), upstreams: upstreams,
                                                       mirrorURL: server, caPath: request.uri.queryParameters["ca"].map { String($0) })
            return try json(files.map { MirrorHostsBody(host: $0.host, path: $0.path, contents: $0.contents) })
        }
        api.get("/customers/:id/pulls/summary") { request, context in
            let days = summaryDays(request)
            let counts = try await control.pullCounts(customerID: try context.parameters.require("id"), days: days)
            return try json(PullSummaryBody(counting: counts.map(PullSummaryBody.Count.init), days: days, byCustomer: false))
        }
        api.get("/pulls/summary") { request, _ in
            let days = summaryDays(request)
            let counts = try await control.pullCounts(customerID: nil, days: days)
            return try json(PullSummaryBody(counting: counts.map(PullSummaryBody.Count.init), days: days, byCustomer: true))
        }
        api.get("/customers/:id/pulls") { request, context in
            let limit = request.uri.queryParameters["limit"].flatMap { Int($0) } ?? 100
            let records = try await control.pulls(customerID: try context.parameters.require("id"), limit: limit)
            return try json(records.map(PullBody.init))
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
private func summaryDays(_ request: Request) -> Int {
    min(max(request.uri.queryParameters["days"].flatMap { Int($0) } ?? 14, 1), 366)
}

extension PullSummaryBody.Count {
    init(_ c: PullDayCount) {
        self.init(day: c.day, customerID: c.customerID, repository: c.repository, reason: c.reason, requests: c.requests, refused: c.refused,
                  bytes: c.bytes, lastAt: c.lastAt)
    }
}
