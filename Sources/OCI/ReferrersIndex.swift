import Foundation

/// The image index `GET /v2/<name>/referrers/<digest>` answers with: one descriptor per
/// manifest whose `subject` is that digest.
public struct ReferrersIndex: Sendable, Equatable {
    /// One referring manifest as the index lists it.
    public struct Entry: Sendable, Equatable, Codable {
        public var mediaType: String
        public var digest: Digest
        public var size: Int64
        public var artifactType: String?
        public var annotations: [String: String]?

        public init(mediaType: String, digest: Digest, size: Int64, artifactType: String?, annotations: [String: String]?) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
            self.artifactType = artifactType
            self.annotations = annotations
        }

        /// The entry for a manifest of `size` bytes with digest `digest`.
        public init(_ manifest: ManifestSummary, digest: Digest, size: Int64) {
            self.init(mediaType: manifest.mediaType, digest: digest, size: size,
                      artifactType: manifest.referrerArtifactType, annotations: manifest.annotations)
        }
    }

    public var entries: [Entry]
    /// True when the entries were narrowed by `artifactType` (answered with `OCI-Filters-Applied`).
    public var filteredByArtifactType: Bool

    public init(entries: [Entry], artifactType: String?) {
        if let artifactType {
            self.entries = entries.filter { $0.artifactType == artifactType }
            filteredByArtifactType = true
        } else {
            self.entries = entries
            filteredByArtifactType = false
        }
    }

    public static let empty = ReferrersIndex(entries: [], artifactType: nil)

    /// The index document, with entries in a stable order.
    public var json: String {
        struct Document: Encodable {
            var schemaVersion = 2
            var mediaType = ManifestMediaType.ociIndex
            var manifests: [Entry]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let sorted = entries.sorted { $0.digest.description < $1.digest.description }
        let data = (try? encoder.encode(Document(manifests: sorted))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
