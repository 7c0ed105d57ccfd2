/// An image reference as written in a manifest or values file:
/// `[registry/]repository[:tag][@digest]`, with Docker's rule that the first component is a
/// registry only when it has a `.` or `:` or is `localhost`.
public struct ImageReference: Equatable, Sendable, CustomStringConvertible {
    /// The registry as written; nil when Docker Hub is implied.
    public var registry: String?
    public var repository: String
    public var tag: String?
    public var digest: String?

    public init(registry: String?, repository: String, tag: String?, digest: String?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    public static func parse(_ text: String) -> ImageReference? {
        var rest = Substring(text.trimmingSpaces)
        guard !rest.isEmpty, !rest.contains(" "), !rest.contains("{{") else { return nil }
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
            guard let d = digest, (try? Digest(parsing: d)) != nil else { return nil }
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
            guard let t = tag, ManifestReference.isValidTag(t) else { return nil }
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty else { return nil }
        var registry: String?
        var repoParts = parts
        if parts.count > 1, ProxyName.looksLikeHost(parts[0]) {
            registry = parts[0]
            repoParts = Array(parts.dropFirst())
        }
        let repository = repoParts.joined(separator: "/")
        guard (try? RepositoryName(parsing: repository)) != nil else { return nil }
        return ImageReference(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    /// `docker.io` for every Docker Hub spelling, else the registry lowercased.
    public var canonicalRegistry: String { canonicalRegistryHost(registry ?? DockerHub.canonicalHost) }

    /// The repository as the registry knows it (`library/nginx` for `nginx`).
    public var upstreamRepository: String {
        canonicalRegistry == DockerHub.canonicalHost ? DockerHub.repository(repository) : repository
    }

    /// Repository and registry without tag or digest, as kustomize names an image.
    public var name: String { registry.map { "\($0)/\(repository)" } ?? repository }

    public var description: String {
        name + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// The same image through the proxy: `HOST/proxy/<app>/<upstream>/<repo>`, tag and digest kept.
    /// `upstream` is the registry's name (slug) when its host cannot go in a path (it has a port).
    public func proxied(host: String, app: String, upstream: String? = nil) -> ImageReference {
        let via = upstream ?? canonicalRegistry
        return ImageReference(registry: host, repository: "proxy/\(app)/\(via)/\(upstreamRepository)", tag: tag, digest: digest)
    }
}

extension ImageReference {
    /// Where an air-gapped customer's registry keeps this image: the repository path without
    /// the registry, and without Portcullis's `proxy/<app>/<upstream>/` prefix when it has one.
    /// `bundle push` and `images rewrite --registry` both name images by this, so they agree.
    public var airGapRepository: String {
        let parts = repository.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count >= 4, parts[0] == "proxy" {
            return parts.dropFirst(3).joined(separator: "/")
        }
        return upstreamRepository
    }

    /// This image in `registry` (`host[:port][/prefix]`), named by `airGapRepository`.
    public func inRegistry(_ registry: String) -> ImageReference {
        let trimmed = registry.hasSuffix("/") ? String(registry.dropLast()) : registry
        let host = trimmed.split(separator: "/", maxSplits: 1).first.map(String.init) ?? trimmed
        let prefix = trimmed.dropFirst(host.count).drop { $0 == "/" }
        return ImageReference(registry: host, repository: (prefix.isEmpty ? "" : prefix + "/") + airGapRepository, tag: tag, digest: digest)
    }
}
