import OCI

/// Whether an image can be pulled anonymously: the test a vendor's platform uses to decide
/// which images are private and must go through the proxy. Answers are remembered per image.
public actor VisibilityProbe {
    public enum Visibility: String, Sendable { case `public`, `private` }

    private let client: any UpstreamRegistry
    private let plainHTTPHosts: Set<String>
    private var known: [String: Visibility] = [:]

    public init(client: any UpstreamRegistry, plainHTTPHosts: Set<String> = []) {
        self.client = client
        self.plainHTTPHosts = plainHTTPHosts
    }

    public func visibility(of reference: ImageReference) async throws -> Visibility {
        let key = reference.description
        if let cached = known[key] { return cached }
        let registry = reference.canonicalRegistry
        let authority = registry == DockerHub.canonicalHost ? DockerHub.apiHost : registry
        let scheme = plainHTTPHosts.contains(registry) || plainHTTPHosts.contains(reference.registry ?? "") ? "http" : "https"
        let target = UpstreamTarget(id: "probe:" + registry, name: registry, baseURL: "\(scheme)://\(authority)", login: .anonymous)
        let visibility: Visibility
        do {
            _ = try await client.manifestHead(target, repository: reference.upstreamRepository,
                                              reference: reference.digest ?? reference.tag ?? "latest")
            visibility = .public
        } catch UpstreamError.authenticationFailed, UpstreamError.notFound {
            // Refused or hidden without credentials: only the proxy can pull it.
            visibility = .private
        }
        known[key] = visibility
        return visibility
    }
}
