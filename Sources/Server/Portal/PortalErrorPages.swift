import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// What the portals answer when a request fails with an error no page handled: a page, not
/// the router's empty 500. Storage that cannot be reached (the database or the object store
/// away) is a 503 page saying to try again, as the registry and the admin API answer 503;
/// anything unclassified is logged with its detail and answered with a page that gives none;
/// a path no page has is the portal's "Not found" page, not the router's empty 404.
///
/// Form posts a browser says came from another site, or from another origin, are refused
/// before any page sees them. The form tokens stop a page elsewhere from forging a post, but
/// not one on the same host under another port (a same-site page can set the login form's
/// cookie and post a token fetched for it), which would sign a visitor in as someone else.
struct PortalErrorPages: RouterMiddleware {
    typealias Context = PortcullisContext
    let kit: PortalKit
    let logger: Logger

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path == "/" || path.hasPrefix("/portal") || path.hasPrefix("/account") else { return try await next(request, context) }
        let home = path.hasPrefix("/portal") ? "/portal" : "/account"
        if request.method == .post, let refusal = Self.crossOriginRefusal(request, configuration: kit.c.configuration) {
            return kit.render("problem", ["title": "Refused", "heading": "Refused", "home": home, "error": refusal,
                                          "back": ["href": home, "label": "the portal"]], status: .forbidden)
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            return kit.render("problem", ["title": "Not found", "heading": "Not found", "home": home,
                                          "error": "There is no page at this address.", "back": ["href": home, "label": "the portal"]],
                              status: .notFound)
        } catch let error as HTTPError {
            throw error
        } catch {
            let answer = ClientFacingError(error)
            if answer.status == .serviceUnavailable {
                var response = kit.render("problem", ["title": "Unavailable", "heading": "Not available just now", "home": home,
                                                      "error": "Portcullis cannot reach its storage at the moment; try again in a minute."],
                                          status: .serviceUnavailable)
                response.headers[.retryAfter] = answer.retryAfter ?? "5"
                return response
            }
            if answer.isInternal { logger.error("portal request failed", metadata: ["error": "\(error)", "path": "\(path)"]) }
            return kit.render("problem", ["title": "Error", "heading": "Something went wrong", "home": home,
                                          "error": answer.isInternal ? "The request could not be completed." : answer.message],
                              status: answer.status)
        }
    }

    /// Why a form post is refused as sent from elsewhere, or nil. `Sec-Fetch-Site` when the
    /// browser sends it (it does to secure origins: a post from this origin, or typed by the user,
    /// only); else `Origin`, which must be this server's as the browser saw it: the configured
    /// public URL's origin (behind a proxy that rewrites Host), or the scheme this server speaks
    /// with the Host the post was sent to (a custom domain too). Scheme, host and port are
    /// compared, default ports left out. Clients that send neither (curl, older browsers) still
    /// need the form's token.
    static func crossOriginRefusal(_ request: Request, configuration: ServerConfiguration) -> String? {
        let refusal = "the form was sent from another site; open the portal and send it from there"
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] {
            return site == "same-origin" || site == "none" ? nil : refusal
        }
        guard let origin = request.headers[.origin] else { return nil }
        guard let sent = normalizedOrigin(origin) else { return refusal }
        var own: Set<String> = []
        if let publicURL = configuration.publicURL, let configured = normalizedOrigin(publicURL) { own.insert(configured) }
        if let host = request.head.authority, let asked = normalizedOrigin((configuration.usesTLS ? "https://" : "http://") + host) {
            own.insert(asked)
        }
        return own.contains(sent) ? nil : refusal
    }

    /// `scheme://host[:port]`, lowercased, without the scheme's default port; nil for what is
    /// not an origin (`null`, a path).
    static func normalizedOrigin(_ text: String) -> String? {
        guard let parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = parts.host?.lowercased(), !host.isEmpty else { return nil }
        let port = parts.port.flatMap { ($0 == 80 && scheme == "http") || ($0 == 443 && scheme == "https") ? nil : $0 }
        return "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "")
    }
}
