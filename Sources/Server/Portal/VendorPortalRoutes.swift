import ControlPlane
import Licensing
import Foundation
import Hummingbird
import PortcullisAPI
import Storage

/// The vendor portal under `/portal`: sign in with a user account; read-only users see every
/// page and change nothing. Every form carries the session's CSRF token.
struct VendorPortalRoutes: Sendable {
    let kit: PortalKit
    var control: ControlPlane { kit.c.control }

    func register(on router: Router<PortcullisContext>) {
        router.get("/portal/static/portal.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                     body: .init(byteBuffer: .init(string: PortalTemplates.stylesheet)))
        }
        router.get("/portal/static/portal.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=300"],
                     body: .init(byteBuffer: .init(string: PortalTemplates.script)))
        }
        router.get("/portal/login") { _, _ in kit.loginForm(.vendor, values: ["title": "Sign in", "heading": "Vendor portal", "email": true]) }
        router.post("/portal/login") { request, context in try await login(request, context) }
        router.post("/portal/logout") { request, _ in
            guard let session = try await kit.session(request, .vendor) else { return kit.redirect("/portal/login") }
            let fields = try await kit.form(request)
            guard PortalKit.sameToken(fields["csrf"], session.csrf) else { return refused("the form's security token is missing or wrong") }
            try await control.endSession(cookie: session.cookie)
            var response = kit.redirect("/portal/login")
            response.setCookie(kit.cookie(PortalKit.Audience.vendor.rawValue, "", path: "/portal", maxAge: 0))
            return response
        }
        page(router, "/portal") { _, user in try await overview(user) }
        page(router, "/portal/customers") { _, user in try await customers(user) }
        page(router, "/portal/customers/:id") { context, user in try await customer(try context.parameters.require("id"), user, host: context) }
        page(router, "/portal/registries") { _, user in try await registries(user) }
        registerManagement(on: router)
        page(router, "/portal/releases") { context, user in try await releases(context.request.uri.queryParameters["app"].map(String.init), user) }
        page(router, "/portal/audit") { _, user in
            let events = try await control.auditEvents().map {
                ["at": PortalKit.day($0.at), "actor": $0.actor, "action": $0.action, "subject": $0.subject]
            }
            return kit.render("audit", base(user, "Audit log").merging(["events": events, "hasEvents": !events.isEmpty]) { $1 })
        }
        change(router, "/portal/customers", form: .newCustomer, redisplay: { session, refusal, _ in
            try await customers(session, refusal: refusal)
        }) { fields, session in
            let days = try Self.days(fields["days"])
            var draft = CustomerDraft(
                app: fields["app"] ?? "", name: fields["name"] ?? "", email: fields["email"].flatMap { $0.isEmpty ? nil : $0 },
                channel: fields["channel"].flatMap { $0.isEmpty ? nil : $0 }, type: fields["type"],
                expiresAt: days.map { Date().addingTimeInterval(TimeInterval($0) * 86_400) }, helmInstall: nil)
            draft.allowDuplicate = fields["allowDuplicate"] == "on"
            let view = try await control.createCustomer(draft)
            try await control.audit(session.identity.actor, "customer create", "\(view.customer.name) (\(view.customer.id))")
            return kit.redirect("/portal/customers/\(view.customer.id)")
        }
        for (verb, archived) in [("archive", true), ("unarchive", false)] {
            change(router, "/portal/customers/:id/\(verb)") { fields, session in
                let id = fields[":id"] ?? ""
                _ = try await control.updateCustomer(id: id, CustomerPatch(archived: archived))
                try await control.audit(session.identity.actor, "customer \(verb)", id)
                return kit.redirect("/portal/customers/\(id)")
            }
        }
        change(router, "/portal/registries", form: .addRegistry, redisplay: { session, refusal, _ in
            try await registries(session, refusal: refusal)
        }) { fields, session in
            let secret = fields["secret"].flatMap { $0.isEmpty ? nil : $0 }
            let kind = fields["kind"] ?? "other"
            let draft = RegistryDraft(provider: kind, endpoint: fields["endpoint"].flatMap { $0.isEmpty ? nil : $0 },
                                      name: fields["name"].flatMap { $0.isEmpty ? nil : $0 },
                                      username: fields["username"].flatMap { $0.isEmpty ? nil : $0 }, secret: secret, authType: nil,
                                      region: fields["region"].flatMap { $0.isEmpty ? nil : $0 }, anonymous: secret == nil && kind != "ecr",
                                      apps: fields["app"].map { [$0] } ?? [])
            let (record, warning) = try await control.addRegistry(draft)
            try await control.audit(session.identity.actor, "registry add", record.name)
            if let warning { return try await self.registries(session, notice: "Added \(record.name), but \(warning).") }
            return kit.redirect("/portal/registries")
        }
        change(router, "/portal/registries/:name/remove") { fields, session in
            try await control.removeRegistry(name: fields[":name"] ?? "")
            try await control.audit(session.identity.actor, "registry remove", fields[":name"] ?? "")
            return kit.redirect("/portal/registries")
        }
        change(router, "/portal/releases/promote", form: .promote, redisplay: { session, refusal, _ in
            try await releases(refusal.typed["app"], session, refusal: refusal)
        }) { fields, session in
            let app = fields["app"] ?? ""
            guard let sequence = fields["sequence"].flatMap(Int.init) else { throw ControlPlaneError.invalid("sequence must be a number") }
            _ = try await control.promote(appSlug: app, sequence: sequence, channel: fields["channel"] ?? "", version: fields["version"] ?? "",
                                         notes: fields["notes"].flatMap { $0.isEmpty ? nil : $0 })
            try await control.audit(session.identity.actor, "release promote", "\(app) #\(sequence) → \(fields["channel"] ?? "")")
            return kit.redirect("/portal/releases?app=\(app)")
        }

    }

    typealias Session = (identity: PortalIdentity, csrf: String)

    /// A page for signed-in users; control-plane errors become a page that says what was wrong.
    func page(_ router: Router<PortcullisContext>, _ path: RouterPath,
              _ body: @escaping @Sendable (PortcullisContextAndRequest, Session) async throws -> Response) {
        router.get(path) { request, context in
            guard let session = try await kit.session(request, .vendor) else { return kit.redirect("/portal/login") }
            do {
                return try await body(PortcullisContextAndRequest(request: request, parameters: context.parameters), (session.identity, session.csrf))
            } catch let error as ControlPlaneError {
                return problem((session.identity, session.csrf), error, path: request.uri.path)
            }
        }
    }

    /// A page that could not be shown (an unknown customer ID, say): why, and the way back.
    func problem(_ session: Session, _ error: ControlPlaneError, path: String) -> Response {
        let section = path.split(separator: "/").dropFirst().first.map(String.init) ?? ""
        let back = ["customers": "Customers", "registries": "Registries", "releases": "Releases", "tokens": "Tokens", "domains": "Domains"]
        var values = base(session, "Not found").merging(["heading": "Not found", "error": error.description]) { $1 }
        if let label = back[section] { values["back"] = ["href": "/portal/\(section)", "label": label] }
        let status: HTTPResponse.Status = if case .notFound = error { .notFound } else { .badRequest }
        return kit.render("problem", values, status: status)
    }

    /// A change: signed in, not read-only, with the session's CSRF token. `body` gets the form
    /// fields (route parameters as `:name`) and answers with a page or a redirect. When the
    /// control plane refuses it, `redisplay` shows the page of `form` again with the refusal
    /// next to the field it is about and what was typed kept; without one, a page says why.
    func change(_ router: Router<PortcullisContext>, _ path: RouterPath, form: PortalForm? = nil,
                redisplay: (@Sendable (Session, FormRefusal, PortcullisContextAndRequest) async throws -> Response)? = nil,
                _ body: @escaping @Sendable ([String: String], Session) async throws -> Response) {
        router.post(path) { request, context in
            guard let session = try await kit.session(request, .vendor) else { return kit.redirect("/portal/login") }
            let posted = try await request.body.collect(upTo: 40 << 20)
            let multipart = MultipartForm.parse(posted, contentType: request.headers[.contentType] ?? "")
            var fields = multipart.map { form in Dictionary(form.parts.filter { $0.filename == nil }.map { ($0.name, $0.text) }) { a, _ in a } }
                ?? PortalKit.fields(urlEncoded: posted)
            guard PortalKit.sameToken(fields["csrf"], session.csrf) else { return refused("the form's security token is missing or wrong") }
            guard case .user(let user) = session.identity, user.role == .admin else { return refused("read-only users cannot change anything") }
            for name in ["id", "name"] { if let value = context.parameters.get(name) { fields[":" + name] = value } }
            do {
                return try await PortalUploads.$current.withValue(multipart) { try await body(fields, (session.identity, session.csrf)) }
            } catch let error as ControlPlaneError {
                guard let form, let redisplay else { return problem((session.identity, session.csrf), error, path: request.uri.path) }
                let page = PortcullisContextAndRequest(request: request, parameters: context.parameters)
                do {
                    var response = try await redisplay((session.identity, session.csrf), form.refusal(error.description, typed: fields), page)
                    response.status = .unprocessableContent
                    return response
                } catch let gone as ControlPlaneError {
                    // The page itself is gone (the customer being edited was removed meanwhile).
                    return problem((session.identity, session.csrf), gone, path: request.uri.path)
                }
            }
        }
    }

    func refused(_ message: String) -> Response {
        kit.render("problem", ["title": "Refused", "heading": "Refused", "home": "/portal", "error": message,
                               "back": ["href": "/portal", "label": "Overview"]], status: .forbidden)
    }

    private func login(_ request: Request, _ context: PortcullisContext) async throws -> Response {
        let fields = try await kit.form(request)
        let values: [String: Any] = ["title": "Sign in", "heading": "Vendor portal", "email": true]
        guard kit.isGenuineLogin(fields, request, .vendor) else {
            return kit.loginForm(.vendor, values: values, error: "The form expired; sign in again.", status: .forbidden)
        }
        let email = (fields["email"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let throttling = LoginThrottling(c: kit.c)
        do {
            // Before the password is hashed: past the limit a guess costs nothing and fails even when right.
            try await throttling.checkAllowed(request, context: context, account: "user:" + email)
            guard let user = try await control.verifyUser(email: email, password: fields["password"] ?? "") else {
                try await throttling.recordFailure(request, context: context, account: "user:" + email)
                return kit.loginForm(.vendor, values: values.merging(["typedEmail": email]) { $1 }, error: "Wrong email or password.",
                                     status: .unauthorized)
            }
            return try await signedIn(user)
        } catch let throttled as ThrottledLogin {
            return kit.loginForm(.vendor, values: values.merging(["typedEmail": email]) { $1 },
                                 error: "Too many failed sign-ins; try again in \(throttled.seconds) seconds.",
                                 status: .tooManyRequests, retryAfter: throttled.seconds)
        }
    }

    private func signedIn(_ user: UserRecord) async throws -> Response {
        let session = try await control.startSession(for: .user(id: user.id))
        try await control.audit("user:\(user.email)", "sign in", "portal")
        var response = kit.redirect("/portal")
        response.setCookie(kit.cookie(PortalKit.Audience.vendor.rawValue, session.cookie, path: "/portal", maxAge: 12 * 3600))
        return response
    }

    func base(_ session: (identity: PortalIdentity, csrf: String), _ title: String) -> [String: Any] {
        var values: [String: Any] = ["title": title, "nav": true, "home": "/portal", "logout": "/portal/logout", "csrf": session.csrf]
        if case .user(let user) = session.identity {
            values["signedIn"] = "\(user.email) (\(user.role.rawValue))"
            values["canChange"] = user.role == .admin
        }
        return values
    }

    func overview(_ session: Session, refusal: FormRefusal? = nil) async throws -> Response {
        let apps = try await control.apps().map { ["slug": $0.slug, "name": $0.name] }
        let soon = Date().addingTimeInterval(30 * 86_400)
        let expiring = try await control.customers(appSlug: nil).filter {
            guard let expires = $0.customer.expiresAt, !$0.customer.archived else { return false }
            return expires > Date() && expires < soon
        }.map { ["id": $0.customer.id, "name": $0.customer.name, "app": $0.app.slug, "expires": PortalKit.day($0.customer.expiresAt)] }
        return kit.render("overview", base(session, "Overview").merging(["apps": apps, "hasApps": !apps.isEmpty, "expiring": expiring,
                                                                         "hasExpiring": !expiring.isEmpty])
            { $1 }.merging(refusal.values(for: .newApp)) { $1 })
    }

    func customers(_ session: Session, refusal: FormRefusal? = nil) async throws -> Response {
        let rows = try await control.customers(appSlug: nil).map(Self.customerRow)
        let typedApp = refusal?.typed["app"]
        let allApps = try await control.apps()
        let apps = allApps.map { ["slug": $0.slug, "selected": $0.slug == typedApp] }
        // Suggested as the channel is typed: every app's channels (the app is chosen beside it).
        var channelNames: [String] = []
        for app in allApps {
            for channel in try await control.channels(appSlug: app.slug) where !channelNames.contains(channel.name) { channelNames.append(channel.name) }
        }
        return kit.render("customers", base(session, "Customers").merging([
            "customers": rows, "hasCustomers": !rows.isEmpty, "apps": apps, "channelNames": channelNames,
            "types": FormRefusal.options(Self.licenseTypes, selected: refusal?.typed["type"] ?? LicenseType.newCustomerDefault.rawValue),
        ]) { $1 }.merging(refusal.values(for: .newCustomer)) { $1 })
    }

    func customer(_ id: String, _ session: Session, host context: PortcullisContextAndRequest, refusal: FormRefusal? = nil) async throws
        -> Response {
        let view = try await control.customer(id: id)
        let address = PublicAddress(configuration: kit.c.configuration, request: context.request)
        let host = address.host
        let secret = try await control.pullSecret(customerID: id, host: host)
        let pulls = try await control.pulls(customerID: id, limit: 50)
        var values = base(session, view.customer.name).merging(Self.customerRow(view)) { $1 }
        values["licenseID"] = view.licenseID
        values["email"] = view.customer.email ?? ""
        values["helm"] = view.customer.helmInstall
        values["host"] = host
        values["plainHTTP"] = address.scheme == "http"
        values["releases"] = try await CustomerPortalRoutes.installableCharts(view, control: control, host: host, plainHTTP: address.scheme == "http")
        values["loginCommand"] = InstallCommands.login(host: host, plainHTTP: address.scheme == "http", username: view.customer.email)
        values["hostNotice"] = address.foreignHostNotice(context.request, configuration: kit.c.configuration)
        values["pullSecret"] = secret.json
        values["types"] = FormRefusal.options(Self.licenseTypes, selected: refusal?.typed["type"] ?? view.customer.type.rawValue)
        switch view.standing {
        case .active: values["installable"] = true
        case .expired: values["banner"] = "This license expired on \(PortalKit.day(view.customer.expiresAt)): its pulls are refused. "
            + "Extend it below to let the customer pull again."
        case .archived: values["banner"] = "This customer is archived: its license pulls nothing. Unarchive it to let it pull again."
        }
        values.merge(refusal.values(for: .editCustomer)) { $1 }
        values["toggle"] = view.customer.archived ? "unarchive" : "archive"
        values["toggleLabel"] = view.customer.archived ? "Unarchive" : "Archive (stops pulls at once)"
        values["toggleConfirm"] = view.customer.archived ? "Unarchive \(view.customer.name)? Its license pulls again at once."
            : "Archive \(view.customer.name)? Its license stops pulling at once."
        let counts = try await control.pullCounts(customerID: view.customer.id, days: 14)
        let summary = PullSummaryBody(counting: counts.map(PullSummaryBody.Count.init), days: 14, byCustomer: false)
        values["chart"] = PullChart.svg(summary)
        values["images"] = summary.images.map {
            ["repository": Self.repositoryLabel($0.repository), "requests": String($0.requests), "bytes": PullChart.formatBytes($0.bytes),
             "refused": String($0.refused)]
        }
        values["refusals"] = summary.refusals.map { ["reason": $0.reason, "count": String($0.count)] }
        values["hasRefusals"] = !summary.refusals.isEmpty
        values["hasImages"] = !summary.images.isEmpty
        values["hasPulls"] = !pulls.isEmpty
        let instances = try await control.instances(customerID: id, inactiveAfter: kit.c.configuration.instanceInactiveAfter)
        values["hasInstances"] = !instances.isEmpty
        // The most recently seen first, a page's worth; the CLI lists them all.
        let shown = instances.sorted { $0.record.lastCheckinAt > $1.record.lastCheckinAt }.prefix(50)
        if instances.count > shown.count {
            values["moreInstances"] = "\(instances.count - shown.count) more: portcullis instance ls --customer \(id)"
        }
        values["instances"] = shown.map { instance -> [String: Any] in
            let r = instance.record
            return ["id": r.instanceID, "version": r.versionLabel ?? "—", "behind": instance.versionsBehind.map(String.init) ?? "—",
                    "status": r.appStatus ?? "—", "k8s": [r.k8sDistribution, r.k8sVersion].compactMap { $0 }.joined(separator: " "),
                    "lastCheckin": PortalKit.day(r.lastCheckinAt), "active": instance.active ? "yes" : "no"]
        }
        values["pulls"] = pulls.prefix(50).map {
            ["at": PortalKit.day($0.at), "action": $0.action, "repository": Self.repositoryLabel($0.repository), "status": String($0.status),
             "reason": $0.reason ?? ""]
        }
        return kit.render("customer", values)
    }

    /// A pull record's repository as the page shows it: a registry login (a token asked for
    /// without a scope) names none.
    static func repositoryLabel(_ repository: String) -> String {
        repository.isEmpty ? "(sign-in, no repository)" : repository
    }

    static let licenseTypes = LicenseType.allCases.map(\.rawValue)

    /// A form's "expires in days": empty for none, else a whole number of days from now.
    static func days(_ text: String?) throws -> Int? {
        let trimmed = (text ?? "").trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        guard let days = Int(trimmed), days >= 0, days <= 36_500 else {
            throw ControlPlaneError.invalid("expires in days must be a whole number of days (0 to 36500), not \(trimmed.debugDescription)")
        }
        return days
    }

    static func customerRow(_ view: CustomerView) -> [String: Any] {
        return ["id": view.customer.id, "name": view.customer.name, "app": view.app.slug, "channel": view.customer.channel,
                "type": view.customer.type.rawValue, "status": view.standing.label, "expires": PortalKit.day(view.customer.expiresAt)]
    }

    func registries(_ session: Session, notice: String? = nil, refusal: FormRefusal? = nil) async throws -> Response {
        var rows: [[String: Any]] = []
        for r in try await control.registries() {
            let apps = try await control.appSlugs(of: r)
            rows.append(["name": r.name, "provider": r.provider, "endpoint": r.endpoint, "authType": r.authType,
                         "apps": apps.isEmpty ? "all" : apps.joined(separator: ", ")])
        }
        let typedApp = refusal?.typed["app"]
        let apps = try await control.apps().map { ["slug": $0.slug, "selected": $0.slug == typedApp] }
        var values = base(session, "Registries").merging([
            "registries": rows, "hasRegistries": !rows.isEmpty, "apps": apps,
            "kinds": FormRefusal.options(RegistryProvider.allCases.map(\.rawValue), selected: refusal?.typed["kind"] ?? "other"),
        ]) { $1 }.merging(refusal.values(for: .addRegistry)) { $1 }
        if let notice { values["notice"] = notice }
        return kit.render("registries", values)
    }

    func releases(_ app: String?, _ session: Session, notice: String? = nil, refusal: FormRefusal? = nil) async throws -> Response {
        let apps = try await control.apps()
        guard let slug = app ?? apps.first?.slug else { return kit.render("releases", base(session, "Releases").merging(["app": "—"]) { $1 }) }
        let summaries = try await control.releases(appSlug: slug)
        let rows = summaries.sorted { $0.release.sequence > $1.release.sequence }.map {
            ["sequence": String($0.release.sequence), "charts": $0.charts.map { "\($0.name) \($0.version)" }.joined(separator: ", "),
             "notes": $0.release.notes ?? "", "channels": $0.activeChannels.joined(separator: ", ")]
        }
        let channels = try await control.channels(appSlug: slug).map(\.name)
        var values = base(session, "Releases").merging([
            "app": slug, "releases": rows, "hasReleases": !rows.isEmpty,
            "promoteTo": FormRefusal.options([""] + channels, selected: refusal?.form == PortalForm.newRelease.name ? refusal?.typed["promote"] : nil),
            "channels": FormRefusal.options(channels, selected: refusal?.form == PortalForm.promote.name ? refusal?.typed["channel"] : nil),
            "apps": apps.map { ["slug": $0.slug, "selected": $0.slug == slug] },
        ]) { $1 }.merging(refusal.values(for: .newRelease)) { $1 }.merging(refusal.values(for: .promote)) { $1 }
        if let notice { values["notice"] = notice }
        return kit.render("releases", values)
    }
}

/// The form being handled, when it was multipart (file uploads).
enum PortalUploads {
    @TaskLocal static var current: MultipartForm?
}

/// A GET handler's request with its route parameters.
struct PortcullisContextAndRequest: Sendable {
    let request: Request
    let parameters: Parameters
}
