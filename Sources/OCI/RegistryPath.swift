/// The endpoints of the distribution API, parsed from a request path under `/v2/`.
///
/// Repository names contain slashes, so the path is read from the right: the trailing
/// components name the endpoint and everything before them is the repository.
public enum RegistryPath: Equatable, Sendable {
    case base
    case manifest(RepositoryName, ManifestReference)
    case blob(RepositoryName, Digest)
    case tags(RepositoryName)
    case referrers(RepositoryName, Digest)
    case uploads(RepositoryName)
    case upload(RepositoryName, session: String)

    public var repository: RepositoryName? {
        switch self {
        case .base: nil
        case .manifest(let n, _), .blob(let n, _), .tags(let n), .referrers(let n, _), .uploads(let n), .upload(let n, _): n
        }
    }

    /// Parses the raw (still percent-encoded) path. Returns nil when the path is not a
    /// registry endpoint at all (a 404 for the router), throws when it is one with bad parts.
    public static func parse(_ rawPath: String) throws(RegistryError) -> RegistryPath? {
        guard rawPath.hasPrefix("/v2/") || rawPath == "/v2" else { return nil }
        if rawPath == "/v2" || rawPath == "/v2/" { return .base }
        // Encoded bytes have no business in a repository path; decoding them is how
        // `%2e%2e` and `%2f` smuggle traversal past a validator.
        if rawPath.contains("%") || rawPath.contains("\\") {
            throw RegistryError(.nameInvalid, "repository path must not contain encoded or escaped characters")
        }
        var parts = rawPath.dropFirst(4).split(separator: "/", omittingEmptySubsequences: false)
        if parts.last == "" { parts.removeLast() }
        guard parts.count >= 3 else { return nil }
        let n = parts.count

        func name(_ upTo: Int) throws(RegistryError) -> RepositoryName {
            try RepositoryName(parsing: parts[..<upTo].joined(separator: "/"))
        }

        if parts[n - 2] == "tags", parts[n - 1] == "list" {
            return .tags(try name(n - 2))
        }
        if parts[n - 2] == "manifests" {
            return .manifest(try name(n - 2), try ManifestReference(parsing: parts[n - 1]))
        }
        if parts[n - 2] == "blobs", parts[n - 1] == "uploads" {
            return .uploads(try name(n - 2))
        }
        if n >= 4, parts[n - 3] == "blobs", parts[n - 2] == "uploads" {
            let session = parts[n - 1]
            guard !session.isEmpty, session.utf8.count <= 128,
                  session.utf8.allSatisfy({ RepositoryName.isAlnum($0) || $0 == UInt8(ascii: "-") }) else {
                throw RegistryError(.blobUploadUnknown, "invalid upload session id")
            }
            return .upload(try name(n - 3), session: String(session))
        }
        if parts[n - 2] == "blobs" {
            return .blob(try name(n - 2), try Digest(parsing: parts[n - 1]))
        }
        if parts[n - 2] == "referrers" {
            return .referrers(try name(n - 2), try Digest(parsing: parts[n - 1]))
        }
        return nil
    }
}
