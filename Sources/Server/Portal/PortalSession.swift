import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// What every portal page needs: templates, the signed-in identity, cookies and CSRF checks.
struct PortalKit: Sendable {
    let c: Components
    let library: MustacheLibrary

    /// Vendor and customer sessions use different cookies, scoped to their paths.
    enum Audience: String {
        case vendor = "pc_portal"
        case customer = "pc_customer"

        /// Each portal's cookies go only with requests for its own pages (never with `/v2`).
        var path: String { self == .vendor ? "/portal" : "/account" }
        var loginPath: String { self == .vendor ? "/portal/login" : "/account/login" }
        var csrfCookie: String { rawValue + "_csrf" }
    }

    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(values, withTemplate: template) ?? "template \(template) missing"
        var response = Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
        // Pages are per user: never cached, never framed.
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        // Scripts only from the portal's own files: no inline script runs, whatever a page shows.
        response.headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'"
        return response
    }

    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    func cookie(_ name: String, _ value: String, path: String, maxAge: Int?) -> Cookie {
        // Secure whenever browsers reach the portal over HTTPS: natively, or through a
        // TLS-terminating load balancer named by the public URL.
        let https = c.configuration.usesTLS || c.configuration.publicURL.flatMap(PublicAddress.parse)?.scheme == "https"
        return Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: https, httpOnly: true, sameSite: .strict)
    }

    /// The signed-in identity of this audience's cookie, with the session's CSRF token.
    func session(_ request: Request, _ audience: Audience) async throws -> (identity: PortalIdentity, csrf: String, cookie: String)? {
        guard let cookie = request.cookies[audience.rawValue]?.value, !cookie.isEmpty,
              let found = try await c.control.session(cookie: cookie) else { return nil }
        switch (audience, found.identity) {
        case (.vendor, .user), (.customer, .customer): return (found.identity, found.csrf, cookie)
        default: return nil
        }
    }

    /// A login form. Its token is a MAC, under the server's key, of a random value set as a
    /// cookie: the post must carry a token that matches the cookie it comes with, which a page
    /// that can set cookies (a sibling host, a plain-HTTP origin) still cannot make.
    func loginForm(_ audience: Audience, values: [String: Any], error: String? = nil, status: HTTPResponse.Status = .ok,
                   retryAfter: String? = nil) -> Response {
        let nonce = ControlPlane.newToken()
        var all = values
        all["csrf"] = c.control.loginFormToken(for: nonce)
        all["action"] = audience.loginPath
        all["home"] = audience.path
        if let error { all["error"] = error }
        var response = render("login", all, status: status)
        response.setCookie(cookie(audience.csrfCookie, nonce, path: audience.path, maxAge: 3600))
        if let retryAfter { response.headers[.retryAfter] = retryAfter }
        return response
    }

    /// Whether a login post carries the token of the form this browser was given.
    func isGenuineLogin(_ fields: [String: String], _ request: Request, _ audience: Audience) -> Bool {
        guard let nonce = request.cookies[audience.csrfCookie]?.value, !nonce.isEmpty else { return false }
        return Self.sameToken(fields["csrf"], c.control.loginFormToken(for: nonce))
    }

    /// The fields of a URL-encoded form post.
    func form(_ request: Request) async throws -> [String: String] {
        Self.fields(urlEncoded: try await request.body.collect(upTo: 64 * 1024))
    }

    /// A body can be read once: callers that collected it parse it here.
    static func fields(urlEncoded body: ByteBuffer) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            // A NUL (`%00`) is dropped: no text Portcullis keeps can hold one (see `JSONBody`).
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                (String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "").replacingOccurrences(of: "\0", with: "")
            }
            if let key = parts.first { fields[key] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }

    static func sameToken(_ a: String?, _ b: String?) -> Bool {
        guard let a, let b, !a.isEmpty, a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func day(_ date: Date?) -> String {
        guard let date else { return "never" }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return f.string(from: date)
    }
}

/// A refused form post: 403 with a page that says why.
struct PortalRefusal: Error {
    var message: String
}
