import OCI
import Storage
import Upstream

/// The kinds of registry a vendor can connect, and what each needs.
public enum RegistryProvider: String, CaseIterable, Sendable {
    case other, dockerhub, ghcr, quay, gar, gcr, ecr

    /// Parses a kind as the vendor typed it; explains the refusal otherwise.
    public static func parse(_ text: String) throws -> RegistryProvider {
        guard let provider = RegistryProvider(rawValue: text.lowercased()) else {
            throw ControlPlaneError.invalid("unknown registry kind \(text.lowercased().debugDescription); use "
                                            + allCases.map(\.rawValue).joined(separator: ", "))
        }
        return provider
    }

    /// How a registry of this kind is logged in to, from what the vendor gave.
    struct Login {
        var username: String?
        var secret: String?
        var authType: String
        var region: String?
    }

    func login(_ draft: RegistryDraft, endpoint: RegistryEndpoint) throws -> Login {
        if self == .ecr {
            guard !draft.anonymous else { throw ControlPlaneError.invalid("ecr registries need an access key; --anonymous does not apply") }
            guard let keyID = draft.username, !keyID.isEmpty, let secret = draft.secret, !secret.isEmpty else {
                throw ControlPlaneError.invalid("ecr registries need --access-key-id and the secret access key on standard input")
            }
            guard let region = draft.region ?? ECRAccess.region(ofHost: endpoint.authority) else {
                throw ControlPlaneError.invalid("--region is required: \(endpoint.authority) does not name one "
                                                + "(ECR hosts look like <account>.dkr.ecr.<region>.amazonaws.com)")
            }
            guard region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), !region.isEmpty else {
                throw ControlPlaneError.invalid("invalid region \(region.debugDescription)")
            }
            return Login(username: keyID, secret: secret, authType: RegistryAuthType.accessKey, region: region)
        }
        if draft.region != nil { throw ControlPlaneError.invalid("--region applies to ecr registries only") }
        if draft.anonymous {
            guard draft.secret == nil, draft.username == nil else {
                throw ControlPlaneError.invalid("--anonymous registers a registry without credentials; leave out the username and secret")
            }
            return Login(username: nil, secret: nil, authType: RegistryAuthType.anonymous)
        }
        guard let secret = draft.secret, !secret.isEmpty else {
            throw ControlPlaneError.invalid("credentials are required (a password, token or key on standard input), "
                                            + "or --anonymous for a public registry")
        }
        guard let username = draft.username ?? defaultUsername(), !username.isEmpty else {
            throw ControlPlaneError.invalid("a username is required with a password or token")
        }
        let authType: String
        switch draft.authType?.lowercased() {
        case nil, "password", "basic": authType = RegistryAuthType.password
        case "token": authType = RegistryAuthType.token
        case let other?: throw ControlPlaneError.invalid("unknown auth type \(other.debugDescription); use password or token")
        }
        return Login(username: username, secret: secret, authType: authType)
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
        case .ecr:
            guard let given else {
                throw ControlPlaneError.invalid("--endpoint is required for ecr, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com")
            }
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
