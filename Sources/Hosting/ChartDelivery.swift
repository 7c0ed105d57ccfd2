import Charts
import Foundation
import Licensing
import NIOCore
import OCI
import Storage

/// Builds the Helm OCI artifact a recipient pulls. Customers get the chart with
/// `global.replicated` injected into `values.yaml`; vendors get the archive as released.
/// Archives are rebuilt deterministically, so a customer's digests are stable across pulls.
public struct ChartDelivery: Sendable {
    public static let configMediaType = "application/vnd.cncf.helm.config.v1+json"
    public static let layerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

    public enum Recipient: Sendable {
        case vendor
        /// `pullSecret` is the base64 dockerconfigjson for this customer and host.
        case customer(License, licenseID: String, pullSecret: String, channelName: String, licenseFields: [SignedLicenseField])

        /// Where this recipient's artifacts are visible through `repository`.
        func visibility(_ repository: String) -> BlobVisibility {
            switch self {
            case .vendor: .chart(.vendor, repository: repository)
            case .customer(let license, _, _, _, _): .chart(.customer(id: license.customerID), repository: repository)
            }
        }
    }

    let blobs: any BlobStore
    let index: any ProxyIndex
    let visibility: any BlobVisibilityIndex

    public init(blobs: any BlobStore, index: any ProxyIndex, visibility: any BlobVisibilityIndex) {
        self.blobs = blobs
        self.index = index
        self.visibility = visibility
    }

    /// Builds (or rebuilds identically) the recipient's manifest for a chart and links its parts.
    public func artifact(_ chart: ReleaseChartRecord, repository: String, for recipient: Recipient) async throws -> (ManifestRecord, ByteBuffer) {
        guard let original = try await blobs.readAll(chart.digest, limit: ChartPackage.maxArchiveSize) else {
            throw RegistryError(.manifestUnknown, "chart archive missing from storage")
        }
        let originalBytes = Array(original.readableBytesView)
        let package = try ChartPackage.parse(archive: originalBytes)
        let layer: [UInt8]
        switch recipient {
        case .vendor:
            layer = originalBytes
        case .customer(let license, let licenseID, let pullSecret, let channelName, let fields):
            let values = try ValuesInjection.inject(into: package.values, replicated: Self.replicatedValues(
                license: license, licenseID: licenseID, pullSecret: pullSecret, channelName: channelName, licenseFields: fields))
            layer = try package.replacingValues(values).archive()
        }
        let config = package.configJSON
        let configDigest = Digest.of(config), layerDigest = Digest.of(layer)
        let manifest = """
            {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
            "config":{"mediaType":"\(Self.configMediaType)","digest":"\(configDigest)","size":\(config.count)},\
            "layers":[{"mediaType":"\(Self.layerMediaType)","digest":"\(layerDigest)","size":\(layer.count)}],\
            "annotations":{"org.opencontainers.image.title":\(JSONString.quote(package.name)),\
            "org.opencontainers.image.version":\(JSONString.quote(package.version))}}
            """
        let manifestBytes = ByteBuffer(string: manifest)
        let manifestDigest = Digest.of(Array(manifest.utf8))
        try await blobs.put(ByteBuffer(bytes: config), as: configDigest)
        try await blobs.put(ByteBuffer(bytes: layer), as: layerDigest)
        try await blobs.put(manifestBytes, as: manifestDigest)
        let record = ManifestRecord(digest: manifestDigest, mediaType: ManifestMediaType.ociManifest, size: Int64(manifestBytes.readableBytes))
        try await index.putManifest(record)
        for digest in [configDigest, layerDigest, manifestDigest] {
            try await visibility.makeVisible(digest, in: recipient.visibility(repository))
        }
        return (record, manifestBytes)
    }

    /// Whether `digest` was delivered to this recipient through this repository.
    public func isDelivered(_ digest: Digest, repository: String, to recipient: Recipient) async throws -> Bool {
        try await visibility.isVisible(digest, in: recipient.visibility(repository))
    }

    /// The `global.replicated` keys charts rely on; the names are a compatibility contract.
    public static func replicatedValues(license: License, licenseID: String, pullSecret: String, channelName: String,
                                        licenseFields: [SignedLicenseField]) -> [(String, ValuesInjection.Value)] {
        [
            ("dockerconfigjson", .string(pullSecret)),
            ("licenseID", .string(licenseID)),
            ("licenseType", .string(license.type.rawValue)),
            ("customerName", .string(license.customerName)),
            ("customerEmail", .string(license.customerEmail ?? "")),
            ("channelName", .string(channelName)),
            ("licenseFields", .map(licenseFields.map { ($0.definition.name, fieldObject($0)) })),
        ]
    }

    /// A field in the documented shape: `name`, `title`, `description`, `value` (typed),
    /// `valueType`, `signature.v1`, and `isHidden` for hidden fields.
    static func fieldObject(_ field: SignedLicenseField) -> ValuesInjection.Value {
        let d = field.definition
        let value: ValuesInjection.Value = switch d.type {
        case .integer: Int(field.value).map { .integer($0) } ?? .string(field.value)
        case .boolean: .boolean(field.value == "true")
        case .string, .text: .string(field.value)
        }
        var pairs: [(String, ValuesInjection.Value)] = [
            ("name", .string(d.name)), ("title", .string(d.title)), ("description", .string(d.description)), ("value", value),
            ("valueType", .string(d.type.valueType)), ("signature", .map([("v1", .string(field.signature))])),
        ]
        if d.hidden { pairs.append(("isHidden", .boolean(true))) }
        return .map(pairs)
    }
}
