import ControlPlane
import Foundation
import Hummingbird

/// Customer edits, registry tests, vendor tokens, custom domains and chart uploads.
extension VendorPortalRoutes {
    func registerManagement(on router: Router<PortcullisContext>) {
        change(router, "/portal/apps", form: .newApp, redisplay: { session, refusal, _ in
            try await overview(session, refusal: refusal)
        }) { fields, session in
            let app = try await control.createApp(slug: fields["slug"] ?? "", name: fields["name"].flatMap { $0.isEmpty ? nil : $0 })
            try await control.audit(session.identity.actor, "app create", app.slug)
            return kit.redirect("/portal")
        }
        change(router, "/portal/customers/:id/edit", form: .editCustomer, redisplay: { session, refusal, page in
            try await customer(try page.parameters.require("id"), session, host: page, refusal: refusal)
        }) { fields, session in
            let id = fields[":id"] ?? ""
            let days = try Self.days(fields["days"])
            let patch = CustomerPatch(name: fields["name"].flatMap { $0.isEmpty ? nil : $0 }, email: fields["email"],
                                      channel: fields["channel"].flatMap { $0.isEmpty ? nil : $0 }, type: fields["type"],
                                      expiresAt: days.map { Date().addingTimeInterval(TimeInterval($0) * 86_400) },
                                      clearExpiry: fields["never"] == "on", helmInstall: fields["helm"] == "on")
            _ = try await control.updateCustomer(id: id, patch)
            try await control.audit(session.identity.actor, "customer edit", id)
            return kit.redirect("/portal/customers/\(id)")
        }
        change(router, "/portal/registries/:name/test") { fields, session in
            let name = fields[":name"] ?? ""
            let (outcome, message) = try await control.testRegistry(name: name, image: fields["image"] ?? "")
            return try await registries(session, notice: "\(name): \(outcome.rawValue) (\(message))")
        }
        page(router, "/portal/tokens") { _, session in try await tokens(session) }
        change(router, "/portal/tokens", form: .newToken, redisplay: { session, refusal, _ in
            try await tokens(session, refusal: refusal)
        }) { fields, session in
            let created = try await control.createToken(name: fields["name"] ?? "", scope: fields["scope"])
            try await control.audit(session.identity.actor, "token create", created.record.name)
            // Shown once, to the user who made it.
            return try await tokens(session, created: created.secret)
        }
        change(router, "/portal/tokens/:id/remove") { fields, session in
            try await control.removeToken(id: fields[":id"] ?? "")
            try await control.audit(session.identity.actor, "token remove", fields[":id"] ?? "")
            return kit.redirect("/portal/tokens")
        }
        page(router, "/portal/domains") { _, session in try await domains(session) }
        change(router, "/portal/domains", form: .newDomain, redisplay: { session, refusal, _ in
            try await domains(session, refusal: refusal)
        }) { fields, session in
            let domain = try await control.addDomain(fields["name"] ?? "", app: fields["app"] ?? "", certificatePEM: nil, keyPEM: nil)
            try await control.audit(session.identity.actor, "domain add", domain.name)
            return kit.redirect("/portal/domains")
        }
        change(router, "/portal/domains/:name/remove") { fields, session in
            try await control.removeDomain(fields[":name"] ?? "", force: fields["force"] == "on")
            try await control.audit(session.identity.actor, "domain remove", fields[":name"] ?? "")
            return kit.redirect("/portal/domains")
        }
        change(router, "/portal/releases", form: .newRelease, redisplay: { session, refusal, _ in
            try await releases(refusal.typed["app"], session, refusal: refusal)
        }) { fields, session in
            let app = fields["app"] ?? ""
            let charts = PortalUploads.current?.files("chart") ?? []
            guard !charts.isEmpty else { throw ControlPlaneError.invalid("choose at least one chart archive (.tgz)") }
            let summary = try await control.createRelease(appSlug: app, archives: charts.map(\.data), version: fields["version"] ?? "",
                                                          notes: fields["notes"].flatMap { $0.isEmpty ? nil : $0 },
                                                          promoteTo: fields["promote"].flatMap { $0.isEmpty ? nil : $0 }, lintFor: nil)
            try await control.audit(session.identity.actor, "release create", "\(app) #\(summary.release.sequence)")
            if !summary.warnings.isEmpty {
                return try await self.releases(app, session, notice: "Release \(summary.release.sequence) created; "
                                                + summary.warnings.joined(separator: " "))
            }
            return kit.redirect("/portal/releases?app=\(app)")
        }
    }

    func tokens(_ session: Session, created: String? = nil, refusal: FormRefusal? = nil) async throws -> Response {
        let rows = try await control.tokens().map { ["id": $0.id, "name": $0.name, "scope": $0.scope.rawValue, "created": PortalKit.day($0.createdAt)] }
        var values = base(session, "Vendor tokens").merging([
            "tokens": rows, "hasTokens": !rows.isEmpty, "scopes": FormRefusal.options(["push", "read"], selected: refusal?.typed["scope"]),
        ]) { $1 }.merging(refusal.values(for: .newToken)) { $1 }
        if let created { values["created"] = created }
        return kit.render("tokens", values)
    }

    func domains(_ session: Session, refusal: FormRefusal? = nil) async throws -> Response {
        let rows = try await control.domainList().map { ["name": $0.name, "app": $0.appSlug, "certificate": $0.certificatePEM != nil ? "yes" : "no"] }
        let typedApp = refusal?.typed["app"]
        let apps = try await control.apps().map { ["slug": $0.slug, "selected": $0.slug == typedApp] }
        return kit.render("domains", base(session, "Custom domains").merging(["domains": rows, "hasDomains": !rows.isEmpty, "apps": apps])
            { $1 }.merging(refusal.values(for: .newDomain)) { $1 })
    }
}
