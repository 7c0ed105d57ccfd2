import Charts
import NIOCore
import OCI
import RegistryCore
import Storage

/// The `portcullis-sdk` subchart this binary matches (its files are embedded by
/// `scripts/embed-sdk-chart` from `deploy/helm/portcullis-sdk`), served by Portcullis itself at
/// `oci://HOST/library/portcullis-sdk`, packaged the same way on every replica and every run.
public enum SDKChart {
    public static let name = "portcullis-sdk"
    public static let repository = "library/portcullis-sdk"

    /// The chart's files with their contents (each ends with a newline).
    public static var contents: [(path: String, text: String)] {
        files.map { ($0.0, $0.1 + "\n") }
    }

    /// The chart as a `.tgz`.
    public static func archive() throws(ChartError) -> [UInt8] {
        try Gzip.compress(Tar.write(contents.map { TarEntry(path: "\(name)/\($0.path)", contents: Array($0.text.utf8)) }))
    }

    /// The Helm OCI artifact: manifest, config and layer, built once per process.
    public static let artifact: BuiltInArtifact? = {
        guard let layer = try? archive(), let package = try? ChartPackage.parse(archive: layer) else { return nil }
        return BuiltInArtifact(tag: package.version, config: package.configJSON, configMediaType: ChartDelivery.configMediaType,
                               layer: layer, layerMediaType: ChartDelivery.layerMediaType, title: package.name)
    }()
}

/// A one-manifest artifact held in memory.
public struct BuiltInArtifact: Sendable {
    public let tag: String
    public let manifest: ByteBuffer
    public let record: ManifestRecord
    let blobs: [Digest: [UInt8]]

    init(tag: String, config: [UInt8], configMediaType: String, layer: [UInt8], layerMediaType: String, title: String) {
        self.tag = tag
        let configDigest = Digest.of(config), layerDigest = Digest.of(layer)
        let text = """
            {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
            "config":{"mediaType":"\(configMediaType)","digest":"\(configDigest)","size":\(config.count)},\
            "layers":[{"mediaType":"\(layerMediaType)","digest":"\(layerDigest)","size":\(layer.count)}],\
            "annotations":{"org.opencontainers.image.title":\(JSONString.quote(title)),"org.opencontainers.image.version":\(JSONString.quote(tag))}}
            """
        manifest = ByteBuffer(string: text)
        record = ManifestRecord(digest: Digest.of(Array(text.utf8)), mediaType: ManifestMediaType.ociManifest, size: Int64(text.utf8.count))
        blobs = [configDigest: config, layerDigest: layer]
    }
}

/// A read-only repository of one built-in artifact (the SDK subchart), pullable by anyone.
public struct BuiltInRepository: RepositoryReader {
    let artifact: BuiltInArtifact

    public init(_ artifact: BuiltInArtifact) { self.artifact = artifact }

    public func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent {
        switch reference {
        case .tag(let tag) where tag == artifact.tag: break
        case .digest(let digest) where digest == artifact.record.digest: break
        default: throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        return ManifestContent(record: artifact.record, bytes: wantBody ? artifact.manifest : nil)
    }

    public func blob(_ digest: Digest) async throws -> BlobContent {
        guard let bytes = artifact.blobs[digest] else { throw RegistryError(.blobUnknown, "blob unknown to registry") }
        return .complete(MemoryBlobReader(bytes: bytes))
    }

    public func blobSize(_ digest: Digest) async throws -> Int64 {
        guard let bytes = artifact.blobs[digest] else { throw RegistryError(.blobUnknown, "blob unknown to registry") }
        return Int64(bytes.count)
    }

    public func tags() async throws -> [String] { [artifact.tag] }

    public func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex {
        ReferrersIndex(entries: [], artifactType: artifactType)
    }
}

struct MemoryBlobReader: BlobReader {
    let bytes: [UInt8]
    var length: Int64 { Int64(bytes.count) }
    var localFile: BlobFile? { nil }

    func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer {
        let start = Int(min(max(offset, 0), length))
        return ByteBuffer(bytes: bytes[start..<min(bytes.count, start + maxCount)])
    }
}
