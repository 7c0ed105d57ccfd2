/// Manifest media types Portcullis serves, in the order it asks upstreams for them.
public enum ManifestMediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

    public static let all = [ociIndex, ociManifest, dockerList, dockerManifest]
    /// The Accept header sent upstream, so one cached answer fits every modern client.
    public static let acceptHeader = all.joined(separator: ", ")

    public static func isIndex(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerList
    }
}

/// Layer media types with rules of their own.
public enum LayerMediaType {
    /// Layers whose content lives elsewhere (`urls`) and may never be pushed to a registry.
    public static let nonDistributable: Set<String> = [
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ]

    /// The empty JSON object `{}` (OCI image-spec's `application/vnd.oci.empty.v1+json`).
    public static let empty = "application/vnd.oci.empty.v1+json"
}
