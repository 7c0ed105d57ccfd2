import OCI
import Upstream

/// The kinds of registry a vendor can connect, and what each needs.
public enum RegistryProvider: String, CaseIterable, Sendable {
    case other, dockerhub, ghcr, quay, gar, gcr

    /// Parses a kind as the vendor typed it; explains the refusal otherwise.
    public static func parse(_ text: String) throws -> RegistryProvider {
        let kind = text.lowercased()
        if kind == "ecr" {
            throw ControlPlaneError.invalid("ecr registries are not supported yet (they need AWS SigV4 token exchange); use a pull-through credential with kind other")
        }
        guard let provider = RegistryProvider(rawValue: kind) else {
            throw ControlPlaneError.invalid("unknown registry kind \(kind.debugDescription); use other, dockerhub, ghcr, quay, gar or gcr")
        }
        return provider
    }

    /// The endpoint to use: the vendor's, or the provider's well-known one.
    func endpoint(given: String?) throws -> RegistryEndpoint {
        let text: String
        switch self {
        case .dockerhub:
            text = given ?? "index.docker.io"
            guard DockerHub.isDockerHub(host: Self.hostPart(text)) else {
                throw ControlPlaneError.invalid("dockerhub registries always use index.docker.io")
            }
        case .ghcr: text = given ?? "ghcr.io"
        case .quay: text = given ?? "quay.io"
        case .gar, .gcr:
            guard let given else { throw ControlPlaneError.invalid("--endpoint is required for \(rawValue), e.g. us-docker.pkg.dev") }
            text = given
        case .other:
            guard let given else { throw ControlPlaneError.invalid("--endpoint is required") }
            text = given
        }
        do { return try RegistryEndpoint(parsing: text) } catch { throw ControlPlaneError.invalid(error.description) }
    }

    /// The username when the vendor gives none (Google's registries take the key as `_json_key`).
    func defaultUsername() -> String? {
        switch self {
        case .gar, .gcr: "_json_key"
        default: nil
        }
    }

    static func hostPart(_ endpoint: String) -> String {
        var s = Substring(endpoint)
        if let r = s.range(of: "://") { s = s[r.upperBound...] }
        return String(s.split(separator: "/").first ?? "")
    }
}
