import HTTPTypes
import Hummingbird
import OCI

/// Requests no route takes, answered in the API's own error format instead of the router's
/// empty 404: on `/v2` every path is routed for the distribution API's methods, so anything left
/// is a method it does not have (405 `UNSUPPORTED`, OCI error JSON); under `/api/v1` a path or
/// method the admin API does not have (404, `{"error"}`). Only the router's own "not found"
/// (an `HTTPError` with no body) is rewritten; a route's answers pass untouched.
struct UnmatchedRequestMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            let path = request.uri.path
            if path == "/v2" || path.hasPrefix("/v2/") {
                let refusal = RegistryError(.unsupported, "\(request.method) is not a method of the registry API")
                var response = Response.registryError(refusal)
                response.headers[.allow] = RegistryRoutes.methods.map(\.rawValue).joined(separator: ", ")
                return response
            }
            if path.hasPrefix("/api/v1/") || path == "/api/v1" {
                return Response.apiError(.notFound, "no endpoint \(request.method) \(path.prefix(200)); the README's HTTP API lists them")
            }
            throw error
        }
    }
}
