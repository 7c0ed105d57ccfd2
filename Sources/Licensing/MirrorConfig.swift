import OCI

/// containerd's `hosts.toml` for one upstream registry, sending a node's pulls of that
/// registry's images to Portcullis as a mirror, with the customer's license in a header. The
/// node keeps pulling the vendor's original image references; no chart rewrite, no pull secret.
public struct MirrorHostsFile: Sendable, Equatable {
    /// The directory under containerd's `config_path` (`/etc/containerd/certs.d/<host>`).
    public var host: String
    public var contents: String

    /// - Parameters:
    ///   - upstreamHost: the registry as image references name it (`quay.io`, `docker.io`).
    ///   - upstreamURL: where the registry itself answers (`https://registry-1.docker.io`).
    ///   - mirrorURL: Portcullis as the nodes reach it, `https://host[:port]`.
    ///   - caPath: a CA file on the node to verify Portcullis with (a private CA).
    public init(upstreamHost: String, upstreamURL: String, mirrorURL: String, licenseID: String, caPath: String? = nil) {
        host = upstreamHost
        let authorization = BasicCredentials(username: PullSecret.username, password: licenseID).headerValue
        let ca = caPath.map { "\n  ca = \(JSONString.quote($0))" } ?? ""
        contents = """
            # \(upstreamHost): pulled through Portcullis with this customer's license.
            server = \(JSONString.quote(upstreamURL))

            [host.\(JSONString.quote(mirrorURL))]
              capabilities = ["pull", "resolve"]\(ca)
              [host.\(JSONString.quote(mirrorURL)).header]
                Authorization = \(JSONString.quote(authorization))

            """
    }

    /// Where containerd reads it, with the default `config_path`.
    public var path: String { "/etc/containerd/certs.d/\(host)/hosts.toml" }
}
