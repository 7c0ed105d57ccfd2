import Access
import ControlPlane
import Foundation
import Hummingbird
import ImageTooling
import Licensing
import Storage

/// The customer portal at `/account` (on the registry host and on custom domains): sign in with the
/// license ID and see how to install the app from this host. Only the signed-in customer's
/// own app and channel are shown; a license that stops being valid ends the session.
struct CustomerPortalRoutes: Sendable {
    let kit: PortalKit
    var control: ControlPlane { kit.c.control }

    func register(on router: Router<PortcullisContext>) {
        // The registry host's root leads to the portal, whose pages (and cookies) live under /account.
        router.get("/") { _, _ in kit.redirect("/account") }
        router.get("/account") { request, _ in
            guard let session = try await kit.session(request, .customer), case .customer(let view) = session.identity else {
                let values: [String: Any] = ["title": "Sign in", "heading": "Install with your license"]
                // A session whose license stopped being valid: say why, once, and end it.
                if let cookie = request.cookies[PortalKit.Audience.customer.rawValue]?.value, !cookie.isEmpty,
                   let ended = try await control.endedCustomerSession(cookie: cookie) {
                    var response = kit.loginForm(.customer, values: values, error: Self.refusal(ended), status: .unauthorized)
                    response.setCookie(kit.cookie(PortalKit.Audience.customer.rawValue, "", path: "/account", maxAge: 0))
                    return response
                }
                return kit.loginForm(.customer, values: values)
            }
            return try await install(view, csrf: session.csrf, request: request)
        }
        router.get("/account/login") { _, _ in kit.redirect("/account") }
        router.post("/account/login") { request, context in
            let fields = try await kit.form(request)
            let values: [String: Any] = ["title": "Sign in", "heading": "Install with your license"]
            guard kit.isGenuineLogin(fields, request, .customer) else {
                return kit.loginForm(.customer, values: values, error: "The form expired; sign in again.", status: .forbidden)
            }
            let license = (fields["license"] ?? "").trimmingCharacters(in: .whitespaces)
            let throttling = LoginThrottling(c: kit.c)
            do {
                try await throttling.checkAllowed(request, context: context, account: "license:" + license)
                guard let customerID = try await kit.c.gate.customerID(license: license), let view = try? await control.customer(id: customerID) else {
                    try await throttling.recordFailure(request, context: context, account: "license:" + license)
                    return kit.loginForm(.customer, values: values, error: "This license ID is not valid.", status: .unauthorized)
                }
                // On an app's custom domain only that app's licenses sign in (as its registry takes only them).
                let address = try await PublicAddress.of(request, configuration: kit.c.configuration, domains: kit.c.domains)
                switch AccessRules.account(view.license, domainApp: address.domainApp, now: Date()) {
                case .allow: break
                case .denied:
                    return kit.loginForm(.customer, values: values, error: "This license is for another app's registry.", status: .forbidden)
                default:
                    return kit.loginForm(.customer, values: values, error: Self.refusal(view), status: .unauthorized)
                }
                let session = try await control.startSession(for: .customer(id: customerID))
                var response = kit.redirect("/account")
                response.setCookie(kit.cookie(PortalKit.Audience.customer.rawValue, session.cookie, path: "/account", maxAge: 12 * 3600))
                return response
            } catch let throttled as ThrottledLogin {
                return kit.loginForm(.customer, values: values, error: "Too many failed sign-ins; try again in \(throttled.seconds) seconds.",
                                     status: .tooManyRequests, retryAfter: throttled.seconds)
            }
        }
        router.post("/account/logout") { request, _ in
            if let session = try await kit.session(request, .customer) {
                let fields = try await kit.form(request)
                guard PortalKit.sameToken(fields["csrf"], session.csrf) else {
                    return kit.render("problem", ["title": "Refused", "heading": "Refused", "home": "/account",
                                                  "error": "the form's security token is missing or wrong",
                                                  "back": ["href": "/account", "label": "your install page"]],
                                      status: .forbidden)
                }
                try await control.endSession(cookie: session.cookie)
            }
            var response = kit.redirect("/account")
            response.setCookie(kit.cookie(PortalKit.Audience.customer.rawValue, "", path: "/account", maxAge: 0))
            return response
        }
        router.get("/account/pull-secret.json") { request, _ in
            guard let session = try await kit.session(request, .customer), case .customer(let view) = session.identity else {
                return kit.redirect("/account")
            }
            let address = try await PublicAddress.of(request, configuration: kit.c.configuration, domains: kit.c.domains)
            guard AccessRules.account(view.license, domainApp: address.domainApp, now: Date()) == .allow else {
                return kit.redirect("/account")
            }
            // The app's domains are always in it; reached through one, the server's own host is added,
            // as `customer pull-secret` and the charts' injected secrets have it.
            let hosts = [address.host] + (address.domainApp == nil ? [] : [address.defaultHost ?? PublicAddress.listenAddress(kit.c.configuration)])
            let secret = try await control.pullSecret(customerID: view.customer.id, hosts: hosts)
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store",
                                                   .contentDisposition: "attachment; filename=\"pull-secret.json\""],
                            body: .init(byteBuffer: .init(string: secret.json)))
        }
    }

    private func install(_ view: CustomerView, csrf: String, request: Request) async throws -> Response {
        let address = try await PublicAddress.of(request, configuration: kit.c.configuration, domains: kit.c.domains)
        // A customer on another app's domain is not shown this app's instructions there.
        if case .denied = AccessRules.account(view.license, domainApp: address.domainApp, now: Date()) {
            return kit.loginForm(.customer, values: ["title": "Sign in", "heading": "Install with your license"],
                                 error: "This license is for another app's registry.", status: .forbidden)
        }
        let plainHTTP = address.scheme == "http"
        let releases = try await Self.installableCharts(view, control: control, host: address.host, plainHTTP: plainHTTP)
        var values: [String: Any] = [
            "title": "Install \(view.app.name)", "appName": view.app.name, "plainHTTP": address.scheme == "http",
            "home": "/account", "logout": "/account/logout", "csrf": csrf,
            "signedIn": view.customer.name, "customer": view.customer.name, "app": view.app.slug, "channel": view.customer.channel,
            "status": "active", "host": address.host, "releases": releases,
            "loginCommand": InstallCommands.login(host: address.host, plainHTTP: plainHTTP, username: view.customer.email),
            "images": try await Self.imagePrefixes(view, host: address.host, control: control),
            // The name charts rewritten for the proxy, and the post-renderer, make pods pull with.
            "pullSecret": ImageRewriter.defaultPullSecret,
        ]
        values["hostNotice"] = address.foreignHostNotice(request, configuration: kit.c.configuration)
        return kit.render("install", values)
    }

    /// Why a license that exists cannot sign in, and whom to ask.
    static func refusal(_ view: CustomerView) -> String {
        if view.customer.archived {
            return "This license is no longer active. Ask \(view.app.name) for a new one."
        }
        return "This license expired on \(PortalKit.day(view.customer.expiresAt)). Ask \(view.app.name) to renew it."
    }

    /// The charts on the customer's channel (the latest promotion), as the install page lists
    /// them; none without the Helm entitlement.
    static func installableCharts(_ view: CustomerView, control: ControlPlane, host: String, plainHTTP: Bool) async throws -> [[String: Any]] {
        let channel = view.customer.channel
        let channelSlug = try await control.channels(appSlug: view.app.slug).first { $0.name == channel }?.slug ?? channel.lowercased()
        // What the registry would refuse is not offered.
        guard AccessRules.chart(view.license, channelName: channel, channelSlug: channelSlug) == .allow else { return [] }
        let latest = try await control.releases(appSlug: view.app.slug).filter { $0.activeChannels.contains(channel) }
        return latest.flatMap(\.charts).enumerated().map { index, chart in
            ["index": index, "command": InstallCommands.install(chart: chart.name, host: host, path: "\(view.app.slug)/\(channelSlug)/\(chart.name)",
                                                                  version: chart.version, plainHTTP: plainHTTP)]
        }
    }

    /// Where the app's images come from through the proxy: one prefix per registry it may use.
    static func imagePrefixes(_ view: CustomerView, host: String, control: ControlPlane) async throws -> [String] {
        try await control.registries().filter { AccessRules.mayUse(registryOf: $0.appIDs, app: view.app.id) }.map { "\(host)/proxy/\(view.app.slug)/\($0.name)/…" }
    }
}
