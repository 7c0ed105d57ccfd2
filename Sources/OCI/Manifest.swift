import Foundation

/// The parts of an image manifest or index that Portcullis needs: its media type and
/// the digests it points at. Bytes are always kept and served as received; this is a view.
public struct ManifestSummary: Sendable, Equatable {
    public struct Descriptor: Codable, Sendable, Equatable {
        public var mediaType: String?
        public var digest: Digest
        public var size: Int64
        public var artifactType: String?
        public var annotations: [String: String]?
    }

    public var mediaType: String
    /// Config and layers for an image manifest; the child manifests for an index.
    public var config: Descriptor?
    public var layers: [Descriptor]
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var artifactType: String?
    public var annotations: [String: String]?

    public var isIndex: Bool { ManifestMediaType.isIndex(mediaType) }

    /// Blob digests this manifest needs to exist in its repository: config and layers, except
    /// non-distributable layers, whose content registries are not given.
    public var requiredBlobDigests: [Digest] { sizedBlobDescriptors.map(\.digest) }

    /// The descriptors of those blobs, sizes and all.
    public var sizedBlobDescriptors: [Descriptor] {
        (config.map { [$0] } ?? []) + layers.filter { !LayerMediaType.nonDistributable.contains($0.mediaType ?? "") }
    }

    /// What a referrers index says this manifest is: its `artifactType`, else (for an image
    /// manifest) its config's media type.
    public var referrerArtifactType: String? {
        if let artifactType { return artifactType }
        return isIndex ? nil : config?.mediaType
    }

    private struct Wire: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var artifactType: String?
        var annotations: [String: String]?
    }

    /// Parses manifest JSON. `contentType` is the header it arrived with, used when the
    /// document does not name its own media type (allowed for OCI manifests).
    public init(parsing bytes: some Collection<UInt8>, contentType: String?) throws(RegistryError) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON of a known shape")
        }
        guard wire.schemaVersion == 2 else {
            throw RegistryError(.manifestInvalid, "only schemaVersion 2 manifests are supported")
        }
        let type = wire.mediaType ?? contentType.map(Self.stripParameters) ?? (wire.manifests != nil ? ManifestMediaType.ociIndex : ManifestMediaType.ociManifest)
        guard ManifestMediaType.all.contains(type) else {
            throw RegistryError(.manifestInvalid, "unsupported manifest media type \(type.debugDescription)")
        }
        if let declared = wire.mediaType, let contentType, Self.stripParameters(contentType) != declared,
           ManifestMediaType.all.contains(Self.stripParameters(contentType)) {
            throw RegistryError(.manifestInvalid, "Content-Type does not match the manifest's mediaType")
        }
        mediaType = type
        config = wire.config
        layers = wire.layers ?? []
        manifests = wire.manifests ?? []
        subject = wire.subject
        artifactType = wire.artifactType
        annotations = wire.annotations
        if ManifestMediaType.isIndex(type) {
            guard wire.manifests != nil else { throw RegistryError(.manifestInvalid, "an index needs a manifests list") }
        } else {
            guard config != nil else { throw RegistryError(.manifestInvalid, "an image manifest needs a config") }
        }
        // A size is a byte count: clients size their downloads by it and check what they got against it.
        for descriptor in (config.map { [$0] } ?? []) + layers + manifests + (subject.map { [$0] } ?? []) where descriptor.size < 0 {
            throw RegistryError(.manifestInvalid, "descriptor \(descriptor.digest) has a negative size")
        }
    }

    static func stripParameters(_ contentType: String) -> String {
        String(contentType.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces)
    }
}
