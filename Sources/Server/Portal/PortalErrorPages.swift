import Hummingbird
import Logging

/// What the portals answer when a request fails with an error no page handled: a page, not
/// the router's empty 500. Storage that cannot be reached (the database or the object store
/// away) is a 503 page saying to try again, as the registry and the admin API answer 503;
/// anything unclassified is logged with its detail and answered with a page that gives none.
struct PortalErrorPages: RouterMiddleware {
    typealias Context = PortcullisContext
    let kit: PortalKit
    let logger: Logger

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path == "/" || path.hasPrefix("/portal") || path.hasPrefix("/account") else { return try await next(request, context) }
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            throw error
        } catch {
            let answer = ClientFacingError(error)
            let home = path.hasPrefix("/portal") ? "/portal" : "/account"
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
}
