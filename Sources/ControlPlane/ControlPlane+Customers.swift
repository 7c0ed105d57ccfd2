import Access
import Foundation
import Hosting
import Licensing
import OCI
import PortcullisAPI
import Storage

/// What a vendor fills in to create a customer.
public struct CustomerDraft: Sendable {
    public var app: String
    public var name: String
    public var email: String?
    public var channel: String?
    public var type: String?
    public var expiresAt: Date?
    public var helmInstall: Bool?
    /// Create it even when the app has a customer of that name.
    public var allowDuplicate = false

    public init(app: String, name: String, email: String?, channel: String?, type: String?, expiresAt: Date?, helmInstall: Bool?) {
        self.app = app
        self.name = name
        self.email = email
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.helmInstall = helmInstall
    }
}

/// A change to a customer: only what is set changes.
public struct CustomerPatch: Sendable {
    public var name: String?
    public var email: String?
    public var channel: String?
    public var type: String?
    public var expiresAt: Date?
    public var clearExpiry = false
    public var archived: Bool?
    public var helmInstall: Bool?

    public init(name: String? = nil, email: String? = nil, channel: String? = nil, type: String? = nil, expiresAt: Date? = nil,
                clearExpiry: Bool = false, archived: Bool? = nil, helmInstall: Bool? = nil) {
        self.name = name
        self.email = email
        self.channel = channel
        self.type = type
        self.expiresAt = expiresAt
        self.clearExpiry = clearExpiry
        self.archived = archived
        self.helmInstall = helmInstall
    }
}

/// A customer with its app and the license ID it was issued.
public struct CustomerView: Sendable {
    public var customer: CustomerRecord
    public var app: AppRecord
    public var licenseID: String

    public var license: License { customer.license(appSlug: app.slug) }
    public var standing: LicenseStanding { license.standing(at: Date()) }
}

extension ControlPlane {
    public func createCustomer(_ draft: CustomerDraft) async throws -> CustomerView {
        let app = try await app(slug: draft.app)
        guard !draft.name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ControlPlaneError.invalid("customer name is required") }
        try Self.checkName(draft.name, "customer name")
        let email = try Self.checkedEmail(draft.email)
        let type = try licenseType(draft.type ?? LicenseType.newCustomerDefault.rawValue)
        let channel = try await channelName(draft.channel ?? ReleaseCatalog.stable, appID: app.id)
        if !draft.allowDuplicate, let twin = try await store.customers(appID: app.id).first(where: {
            $0.name.caseInsensitiveCompare(draft.name.trimmingCharacters(in: .whitespaces)) == .orderedSame
        }) {
            throw ControlPlaneError.conflict("\(app.slug) already has a customer named \(twin.name.debugDescription) (\(twin.id)); "
                                             + "to issue a second license under that name, pass --allow-duplicate")
        }
        let licenseID = LicenseID.generate()
        let customer = CustomerRecord(
            appID: app.id, name: draft.name, email: email, channel: channel, type: type,
            expiresAt: draft.expiresAt, helmInstall: draft.helmInstall ?? true,
            licenseHash: SecretBox.lookupHash(licenseID), sealedLicense: try secrets.seal(licenseID))
        try await normalized { try await store.createCustomer(customer) }
        logger.info("customer created", metadata: ["customer": "\(customer.id)", "app": "\(app.slug)"])
        webhooks?.emit(.customerCreated, Self.eventData(customer, app: app))
        return CustomerView(customer: customer, app: app, licenseID: licenseID)
    }

    public func customers(appSlug: String?) async throws -> [CustomerView] {
        let appID = if let appSlug { try await app(slug: appSlug).id } else { String?.none }
        let apps = Dictionary(uniqueKeysWithValues: try await store.apps().map { ($0.id, $0) })
        return try await store.customers(appID: appID).compactMap { customer in
            try apps[customer.appID].map { CustomerView(customer: customer, app: $0, licenseID: try secrets.open(customer.sealedLicense)) }
        }
    }

    public func customer(id: String) async throws -> CustomerView {
        guard let customer = try await store.customer(id: id), let app = try await store.app(id: customer.appID) else {
            throw ControlPlaneError.notFound("customer \(id) not found")
        }
        return CustomerView(customer: customer, app: app, licenseID: try secrets.open(customer.sealedLicense))
    }

    /// Applies a change; archiving or expiring stops the license at once on this replica.
    public func updateCustomer(id: String, _ patch: CustomerPatch) async throws -> CustomerView {
        var view = try await customer(id: id)
        let wasValid = AccessRules.account(view.license, domainApp: nil, now: Date()) == .allow
        var c = view.customer
        if let name = patch.name {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ControlPlaneError.invalid("customer name is required") }
            try Self.checkName(name, "customer name")
            c.name = name
        }
        // An empty email (a form's cleared field) is no email.
        if let email = patch.email { c.email = try Self.checkedEmail(email) }
        if let channel = patch.channel { c.channel = try await channelName(channel, appID: view.app.id) }
        if let type = patch.type { c.type = try licenseType(type) }
        if let expiresAt = patch.expiresAt { c.expiresAt = expiresAt }
        if patch.clearExpiry { c.expiresAt = nil }
        if let archived = patch.archived { c.archived = archived }
        if let helmInstall = patch.helmInstall { c.helmInstall = helmInstall }
        c.updatedAt = Date()
        try await store.updateCustomer(c)
        await gate.invalidate(customerID: c.id)
        recipients?.forget(customerID: c.id)
        logger.info("customer updated", metadata: ["customer": "\(c.id)", "archived": "\(c.archived)"])
        if c.archived != view.customer.archived {
            webhooks?.emit(c.archived ? .customerArchived : .customerUnarchived, Self.eventData(c, app: view.app))
        }

        view.customer = c
        if !wasValid, AccessRules.account(view.license, domainApp: nil, now: Date()) == .allow {
            // Portal sessions from before the license stopped being valid stay ended (the portal
            // said why on their next visit): unarchiving or renewing does not bring them back.
            try await store.deleteSessions(customerID: c.id)
        }
        return view
    }

    /// What an event says about a customer (never the license ID).
    static func eventData(_ customer: CustomerRecord, app: AppRecord) -> [String: String] {
        ["customerID": customer.id, "customer": customer.name, "app": app.slug, "channel": customer.channel]
    }

    /// The Docker config a customer pulls with: for the app's custom domains and `host`.
    public func pullSecret(customerID: String, host: String) async throws -> (json: String, base64: String) {
        try await pullSecret(customerID: customerID, hosts: [host])
    }

    /// The pull secret for `hosts` and every custom domain of the customer's app.
    public func pullSecret(customerID: String, hosts given: [String]) async throws -> (json: String, base64: String) {
        let view = try await customer(id: customerID)
        var hosts = try await domains.names(ofApp: view.app.id)
        for host in given where !hosts.contains(host) { hosts.append(host) }
        return (PullSecret.dockerConfigJSON(hosts: hosts, licenseID: view.licenseID),
                PullSecret.dockerConfigJSONBase64(hosts: hosts, licenseID: view.licenseID))
    }

    /// containerd `hosts.toml` files that make a customer's nodes pull the app's upstream
    /// registries (all, or the ones named) through `mirrorURL` with the customer's license.
    public func mirrorConfig(customerID: String, upstreams: [String], mirrorURL: String, caPath: String? = nil) async throws
        -> [MirrorHostsFile] {
        let view = try await customer(id: customerID)
        let available = try await store.registries().filter { AccessRules.mayUse(registryOf: $0.appIDs, app: view.app.id) }
        for name in upstreams where !available.contains(where: { $0.name == name }) {
            throw ControlPlaneError.invalid("registry \(name.debugDescription) is not one the customer's app \(view.app.slug) may use")
        }
        let chosen = upstreams.isEmpty ? available : available.filter { upstreams.contains($0.name) }
        return chosen.map {
            MirrorHostsFile(upstreamHost: $0.host, upstreamURL: $0.endpoint, mirrorURL: mirrorURL, licenseID: view.licenseID,
                            caPath: caPath)
        }
    }

    /// The customer's recent registry requests, newest first, including ones still being batched.
    public func pulls(customerID: String, limit: Int) async throws -> [PullRecord] {
        let view = try await customer(id: customerID)
        await pulls.flush()
        return try await store.pulls(customerID: view.customer.id, limit: min(max(limit, 1), 10_000))
    }

    /// Per-day counts of one customer's requests (or, nil, of all traffic) over `days` days.
    public func pullCounts(customerID: String?, days: Int, now: Date = Date()) async throws -> [PullDayCount] {
        var id: String?
        if let customerID { id = try await customer(id: customerID).customer.id }
        await pulls.flush()
        return try await store.pullCounts(customerID: id, since: now.addingTimeInterval(-Double(days) * 86_400))
    }

    func channelName(_ name: String, appID: String) async throws -> String {
        guard let channel = try await catalog.channel(appID: appID, named: name) else {
            let known = try await store.channels(appID: appID).map(\.name)
            throw ControlPlaneError.invalid("unknown channel \(name.debugDescription): the app's channels are \(known.joined(separator: ", ")) "
                                            + "(`portcullis channel create` adds one)")
        }
        return channel.name
    }

    func licenseType(_ text: String) throws -> LicenseType {
        guard let type = LicenseType(rawValue: text) else {
            throw ControlPlaneError.invalid("license type must be one of \(LicenseType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return type
    }
}

extension ControlPlane {
    /// The longest name a vendor may give an app or a customer: names head pages and fill
    /// table cells, and no company is called anything longer.
    static let longestName = 200

    static func checkName(_ name: String, _ what: String) throws {
        guard name.count <= longestName else { throw ControlPlaneError.invalid("\(what) is longer than \(longestName) characters") }
        guard !DisplayedText.hasControlOrDirectionCharacters(name) else {
            throw ControlPlaneError.invalid("\(what) holds control or text-direction characters")
        }
    }

    /// An email as given (trimmed), nil when empty, or refused when it is not an address: it
    /// goes into the commands the portals show the customer to paste into a shell.
    static func checkedEmail(_ email: String?) throws -> String? {
        guard let email = email?.trimmingCharacters(in: .whitespaces), !email.isEmpty else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let allowedOutside = "!#$%&'*+-/=?^_`{|}~.@"
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              email.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil
                  || ($0.isASCII && allowedOutside.unicodeScalars.contains($0)) }) else {
            // Said without the word "name", which places a portal refusal at the name field.
            throw ControlPlaneError.invalid("the email \"\(email)\" is not an address (like ops@example.com)")
        }
        return email
    }
}
