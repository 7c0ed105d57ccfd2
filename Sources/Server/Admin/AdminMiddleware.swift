import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI
import PortcullisAPI
import Storage

/// Admin routes need `Authorization: Bearer <admin token>`.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    let adminTokenHash: String

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return .apiError(.unauthorized, "admin token required (Authorization: Bearer <token>)")
        }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard SecretBox.lookupHash(token) == adminTokenHash else {
            // Said apart from a missing token: a stale PORTCULLIS_API_TOKEN is the usual cause.
            let why = token.hasPrefix("pcv_") ? "a vendor token pushes and pulls images; the admin API takes the admin token"
                : "it is not this server's admin token (the file admin-token in its data directory; check PORTCULLIS_API_TOKEN)"
            return .apiError(.unauthorized, "the token was refused: \(why)")
        }
        return try await next(request, context)
    }
}

/// Records every change made through the admin API (who: the admin token) in the audit log.
struct AdminAuditMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    let control: ControlPlane

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        // User changes are recorded by the control plane itself, with the user's email: not twice.
        let recordedElsewhere = request.uri.path.hasPrefix(API.prefix + "/users")
        if request.method != .get, request.method != .head, (200..<300).contains(response.status.code), !recordedElsewhere {
            // The path names what changed; bodies may hold secrets and are not recorded.
            try? await control.audit("api:admin", "\(request.method.rawValue) \(request.uri.path)", "")
        }
        return response
    }
}

/// Turns what went wrong into `{"error": "…"}` with the status that says whose fault it is.
struct AdminErrorMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    let logger: Logger

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let answer = ClientFacingError(error)
            if answer.isInternal { logger.error("admin request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"]) }
            return answer.apiResponse
        }
    }
}
