import Access
import Bundles
import Charts
import ControlPlane
import Foundation
import HTTPTypes
import Hosting
import Hummingbird
import OCI
import Proxy
import Storage

/// What an error means to whoever made the request, decided here once for every way in: the
/// registry API, the token endpoint, bundles and the admin API. Each surface renders it in its
/// own shape (OCI error JSON, `{"error": …}`), with the same status for the same failure.
///
/// A client's or an upstream's mistake is never a 500: only an error nobody classified is,
/// and its detail goes to the log, never to the client.
struct ClientFacingError {
    enum Challenge: Equatable {
        /// The registry's token flow: `Bearer realm=…,service=…,scope=…`.
        case bearer
        /// Credentials straight in the request (token endpoint, bundles).
        case basic
    }

    var status: HTTPResponse.Status
    /// The OCI code when answered as a registry.
    var code: RegistryErrorCode
    /// What the client is told.
    var message: String
    /// What the log and the pull record are told (an upstream's failure in full, say).
    var reason: String
    var retryAfter: String?
    var challenge: Challenge?
    /// `portcullis_denied_requests_total`'s reason, for refusals.
    var deniedMetric: String?
    /// Nobody classified it, or the server ran short of disk or descriptors: logged as an
    /// error with its detail, for the operator.
    var isInternal = false

    init(status: HTTPResponse.Status, code: RegistryErrorCode, message: String, reason: String? = nil, retryAfter: String? = nil,
         challenge: Challenge? = nil, deniedMetric: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason ?? message
        self.retryAfter = retryAfter
        self.challenge = challenge
        self.deniedMetric = deniedMetric
    }

    init(_ error: any Error) {
        switch error {
        case let error as RegistryError:
            self.init(status: .init(code: error.status), code: error.code, message: error.message, retryAfter: error.retryAfter.map(String.init))
        case let failure as ProxyFailure:
            self.init(_: failure.registry)
            reason = failure.upstream.description
        case let throttled as ThrottledLogin:
            self.init(status: .tooManyRequests, code: .tooManyRequests, message: "too many failed logins; retry later",
                      retryAfter: throttled.seconds, deniedMetric: "rate_limited")
        case let refusal as TokenRefusal:
            self.init(status: .unauthorized, code: .unauthorized, message: refusal.message, challenge: .basic, deniedMetric: "unauthorized")
        case AccessRefusal.unauthorized(let message):
            self.init(status: .unauthorized, code: .unauthorized, message: message, challenge: .bearer, deniedMetric: "unauthorized")
        case AccessRefusal.denied(let message):
            self.init(status: .forbidden, code: .denied, message: message, deniedMetric: "denied")
        case let error as ChartError:
            // A vendor's chart that cannot be delivered (released before its values were checked):
            // the vendor's problem, said as such, not an internal error.
            self.init(status: .badGateway, code: .unavailable, message: "the vendor's chart cannot be delivered: \(error)",
                      reason: "chart cannot be delivered: \(error)")
        case let unavailable as StorageUnavailable:
            self.init(status: .serviceUnavailable, code: .unavailable, message: "\(unavailable.store) unavailable; retry shortly",
                      reason: unavailable.description, retryAfter: "1")
        case let slow as BodyTooSlow:
            // The connection is closed already; this is for the log line.
            self.init(status: .requestTimeout, code: .unsupported, message: slow.description)
        case is CancellationError:
            self.init(status: .serviceUnavailable, code: .unavailable, message: "request cancelled", reason: "client went away")
        case let error as ControlPlaneError:
            switch error {
            case .invalid(let m): self.init(status: .badRequest, code: .unsupported, message: m)
            case .notFound(let m): self.init(status: .notFound, code: .nameUnknown, message: m)
            case .conflict(let m): self.init(status: .conflict, code: .unsupported, message: m)
            }
        case let error as CatalogError:
            self.init(status: .notFound, code: .nameUnknown, message: error.description)
        case let error as BundleError:
            self.init(status: .unprocessableContent, code: .unsupported, message: error.description)
        case AdminError.badRequest(let m):
            self.init(status: .badRequest, code: .unsupported, message: m)
        case AdminError.tooLarge:
            self.init(status: .contentTooLarge, code: .tooLarge, message: "request body too large")
        case let error as HTTPError:
            self.init(status: error.status, code: .unsupported, message: error.body ?? "request failed")
        default:
            if let shortage = ResourceShortage(error) {
                self.init(status: .serviceUnavailable, code: .unavailable, message: "\(shortage); retry later",
                          reason: "\(shortage): \(error)", retryAfter: "30")
            } else {
                self.init(status: .internalServerError, code: .unavailable, message: "internal error", reason: "internal error: \(error)")
            }
            isInternal = true
        }
    }

    /// As the registry API answers: OCI error JSON. `bearerChallenge` is the `WWW-Authenticate`
    /// value for this request's scopes, used when the answer invites a token.
    func registryResponse(bearerChallenge: @autoclosure () -> String) -> Response {
        var headers = HTTPFields()
        if let retryAfter { headers[.retryAfter] = retryAfter }
        switch challenge {
        case .bearer: headers[.wwwAuthenticate] = bearerChallenge()
        case .basic: headers[.wwwAuthenticate] = Self.basicChallenge
        case nil: break
        }
        return .registryError(RegistryError(code, message, status: Int(status.code)), headers: headers)
    }

    /// As the admin API and bundle downloads answer: `{"error": "…"}`; credentials asked for with Basic.
    var apiResponse: Response {
        var response = Response.apiError(status, message)
        if let retryAfter { response.headers[.retryAfter] = retryAfter }
        if challenge != nil { response.headers[.wwwAuthenticate] = Self.basicChallenge }
        return response
    }

    static let basicChallenge = #"Basic realm="portcullis""#
}
