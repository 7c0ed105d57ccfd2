import OCI
import Upstream

extension UpstreamError {
    /// What a client is told when the upstream fails. An upstream's trouble is never the
    /// client's fault and never a 500: a refusal of the vendor's credentials is a 502 that says
    /// so (without the secret), throttling keeps the upstream's `Retry-After`.
    public func registryError(notFound: RegistryErrorCode) -> RegistryError {
        switch self {
        case .notFound:
            let what = switch notFound {
            case .manifestUnknown: "manifest"
            case .blobUnknown: "blob"
            default: "repository"
            }
            return RegistryError(notFound, "\(what) unknown to registry")
        case .authenticationFailed:
            return RegistryError(.unavailable, "the upstream registry refused the vendor's registry credentials", status: 502)
        case .rateLimited(let retryAfter):
            return RegistryError(.tooManyRequests, "the upstream registry is rate limiting; try again later", retryAfter: retryAfter)
        case .unreachable, .unresolvable, .serverError:
            return RegistryError(.unavailable, "the upstream registry is unavailable", status: 503)
        case .unexpectedStatus:
            return RegistryError(.unavailable, "the upstream registry gave an invalid response", status: 502)
        case .invalidResponse(let why):
            return RegistryError(.unavailable, "the upstream registry gave an invalid response: \(why)", status: 502)
        case .refusedDestination(let host, let reason):
            return RegistryError(.unavailable, "the upstream registry pointed to \(host), which Portcullis does not connect to: \(reason)", status: 502)
        case .unapprovedLogin(let host):
            return RegistryError(.unavailable, "the upstream registry asked for a login at \(host), which is not approved for this registry; no credentials were sent (the vendor can approve it with registry update --token-realm)", status: 502)
        }
    }
}
