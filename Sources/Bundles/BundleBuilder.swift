import Access
import Charts
import Foundation
import Hosting
import ImageTooling
import Licensing
import Logging
import NIOCore
import OCI
import PortcullisAPI
import Proxy
import RegistryCore
import Storage

/// What a bundle is made for: a release of an app, as one customer's license receives it.
public struct BundleRequest: Sendable {
    public var app: AppRecord
    public var sequence: Int
    public var customer: CustomerRecord
    /// `os/arch[/variant]`; empty: every platform of each image.
    public var platforms: [String]
    /// How the customer reaches this server (pull secrets in charts, proxy references).
    public var address: RequestAddress
    /// The host the customer pulls from, for the proxy references listed in `bundle.json`.
    public var publicHost: String
    /// Hosts that are this server (the public host, custom domains): images named on them are
    /// resolved as Portcullis repositories; any other host is an upstream.
    public var ownHosts: Set<String>

    public init(app: AppRecord, sequence: Int, customer: CustomerRecord, platforms: [String], address: RequestAddress, publicHost: String,
                ownHosts: Set<String>) {
        self.app = app
        self.sequence = sequence
        self.customer = customer
        self.platforms = platforms
        self.address = address
        self.publicHost = publicHost
        self.ownHosts = ownHosts
    }
}

public struct BundleError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Builds air-gap bundles: a release's charts as the customer receives them (license
/// injected) and every image they reference, in one OCI image layout written as a tar.
///
/// Everything is read through the repository resolver with the customer's own license as the
/// caller, so a bundle holds exactly what that license could pull: an expired or archived
/// license, another app's image or a release not on the customer's channel is refused the
/// same way a pull would be. The archive is built into a spool file and published as a blob
/// under its digest, so a download is served (and resumed with `Range`) like any blob.
public struct BundleBuilder: Sendable {
    let resolver: RepositoryResolver
    let catalog: ReleaseCatalog
    let blobs: any BlobStore
    let store: any BundleStore & CacheEntryStore
    let manifestLimit: Int
    let logger: Logger

    public init(resolver: RepositoryResolver, catalog: ReleaseCatalog, blobs: any BlobStore, store: any BundleStore & CacheEntryStore,
                manifestLimit: Int, logger: Logger) {
        self.resolver = resolver
        self.catalog = catalog
        self.blobs = blobs
        self.store = store
        self.manifestLimit = manifestLimit
        self.logger = logger
    }

    /// A built bundle, opened for reading.
    public struct Built: Sendable {
        public var digest: Digest
        public var size: Int64
        public var reader: any BlobReader
    }

    /// The bundle, built now or earlier for the same charts, images, customer and platforms.
    public func bundle(_ request: BundleRequest) async throws -> Built {
        for _ in 0..<2 {
            let (digest, size) = try await build(request)
            // Evicted between being found and opened: build it again.
            if let reader = try await blobs.open(digest) { return Built(digest: digest, size: size, reader: reader) }
        }
        throw BundleError("the bundle could not be kept long enough to be read; ask again")
    }

    private func build(_ request: BundleRequest) async throws -> (digest: Digest, size: Int64) {
        let license = request.customer.license(appSlug: request.app.slug)
        let caller = Caller(principal: .customer(license), tokenAccess: nil)
        try resolver.admit(caller.principal)
        let (release, channel, charts) = try await catalog.release(appID: request.app.id, sequence: request.sequence,
                                                                   onChannel: request.customer.channel)
        var layout = BundleLayout()
        var documentCharts: [BundleDocument.Chart] = []
        var images: [ImageReference] = []
        for (chart, path) in charts {
            let name = try repositoryName(([request.app.slug] + path).joined(separator: "/"))
            let reader = try await resolver.resolve(AccessRequest(name: name, actions: [.pull]), caller: caller, address: request.address).reader
            let manifest = try await reader.manifest(.tag(ChartPackage.tag(forVersion: chart.version)), wantBody: true)
            guard let bytes = manifest.bytes else { throw BundleError("chart \(chart.name) \(chart.version) has no manifest") }
            let summary = try ManifestSummary(parsing: bytes.readableBytesView, contentType: manifest.record.mediaType)
            guard let archiveLayer = summary.layers.first else { throw BundleError("chart \(chart.name) \(chart.version) has no archive layer") }
            guard let archive = try await readWhole(reader, archiveLayer.digest, limit: ChartPackage.maxArchiveSize) else {
                throw BundleError("chart \(chart.name) \(chart.version) is larger than a chart may be")
            }
            let file = "charts/\(chart.name)-\(chart.version).tgz"
            layout.addFile(file, bytes: archive)
            layout.addManifest(bytes, digest: manifest.record.digest, mediaType: manifest.record.mediaType,
                               refName: "charts/\(chart.name):\(ChartPackage.tag(forVersion: chart.version))")
            for blob in [summary.config?.digest].compactMap({ $0 }) + summary.layers.map(\.digest) {
                layout.addBlob(blob, size: try await reader.blobSize(blob), from: reader)
            }
            documentCharts.append(.init(name: chart.name, version: chart.version, file: file, digest: manifest.record.digest.description,
                                        repository: "charts/\(chart.name)"))
            images += try imagesOf(chart: archive, name: file)
        }
        var documentImages: [BundleDocument.Image] = []
        for reference in unique(images) {
            do {
                documentImages.append(try await addImage(reference, to: &layout, request: request, caller: caller))
            } catch var error as RegistryError {
                // Which of possibly thousands of references could not be had, said with why.
                error.message = "\(reference): \(error.message)"
                throw error
            }
        }
        let document = BundleDocument(
            app: request.app.slug, release: .init(sequence: release.sequence, version: release.version, channel: channel.name),
            customerId: request.customer.id, customerName: request.customer.name, platforms: request.platforms,
            charts: documentCharts, images: documentImages)
        let key = layout.identity(document: document)
        if let built = try await store.bundle(key: key), try await blobs.size(of: built.digest) == built.size {
            return built
        }
        let built = try await layout.write(document: document, to: blobs, logger: logger)
        try await store.putBundle(key: key, digest: built.digest, size: built.size)
        try await store.recordCached(built.digest, size: built.size, references: [], at: Date())
        return built
    }

    // MARK: Images

    /// Adds an image (an index complete, or the chosen platforms) and returns its entry.
    private func addImage(_ reference: ImageReference, to layout: inout BundleLayout, request: BundleRequest, caller: Caller) async throws
        -> BundleDocument.Image {
        let resolved: ResolvedRepository
        let ownHost = reference.registry.map { request.ownHosts.contains($0.lowercased()) } ?? false
        if ownHost {
            resolved = try await resolver.resolve(AccessRequest(name: try repositoryName(reference.repository), actions: [.pull]),
                                                  caller: caller, address: request.address)
        } else {
            resolved = try await resolver.resolveMirrored(AccessRequest(name: try repositoryName(reference.upstreamRepository), actions: [.pull]),
                                                          namespace: reference.canonicalRegistry, caller: caller, address: request.address)
        }
        let reader = resolved.reader
        let wanted: ManifestReference = if let digest = reference.digest { .digest(try Digest(parsing: digest)) } else { .tag(reference.tag ?? "latest") }
        let top = try await reader.manifest(wanted, wantBody: true)
        guard let topBytes = top.bytes else { throw BundleError("\(reference): no manifest") }
        var digest = top.record.digest, mediaType = top.record.mediaType
        if ManifestMediaType.isIndex(top.record.mediaType) {
            let index = try IndexPlatforms(topBytes)
            let matching = request.platforms.isEmpty ? index.children : index.children.filter { Self.isWanted($0.platform, request.platforms) }
            guard !matching.isEmpty else {
                throw BundleError("\(reference) has no manifest for \(request.platforms.joined(separator: ", ")); it has \(index.children.map(\.platform).joined(separator: ", "))")
            }
            // A chart that pins the index by digest pulls that digest: the index goes in whole
            // (every platform), since one with fewer platforms is another digest, which the
            // customer's registry would then lack.
            let chosen = reference.digest != nil ? index.children : matching
            var childTypes: [Digest: String] = [:]
            for child in chosen {
                childTypes[child.digest] = try await addImageManifest(child.digest, reader: reader, to: &layout, reference: reference)
            }
            if chosen.count == 1, !request.platforms.isEmpty {
                // One platform: the image is that platform's own manifest, digest preserved.
                digest = chosen[0].digest
                mediaType = childTypes[digest] ?? mediaType
            } else if chosen.count < index.children.count {
                let filtered = try index.keeping(Set(chosen.map(\.digest)))
                digest = Digest.of(filtered)
                layout.addManifest(ByteBuffer(bytes: filtered), digest: digest, mediaType: mediaType, refName: nil)
            } else {
                layout.addManifest(topBytes, digest: digest, mediaType: mediaType, refName: nil)
            }
        } else {
            // A single-platform image goes in as it is, whatever platforms were asked for: a bundle
            // cannot make it another platform's, and the chart may not even run it there.
            try await addImageManifest(digest, reader: reader, to: &layout, reference: reference, known: topBytes)
        }
        let proxy: String
        if let proxied = reader as? ProxiedRepository {
            proxy = "\(request.publicHost)/proxy/\(request.app.slug)/\(proxied.upstream.registry.name)/\(proxied.upstream.repository)"
        } else {
            proxy = "\(request.publicHost)/\(reference.repository)"
        }
        let suffix = reference.digest.map { "@" + $0 } ?? ":" + (reference.tag ?? "latest")
        let target = reference.airGapRepository
        layout.name(digest, as: "\(target):\(reference.tag ?? digest.hex.prefix(16).description)")
        return BundleDocument.Image(original: reference.description, proxy: proxy + suffix, repository: target,
                                    tag: reference.digest == nil ? (reference.tag ?? "latest") : (reference.tag ?? ""),
                                    digest: digest.description, mediaType: mediaType)
    }

    /// One platform's manifest with its config and layers; returns its media type. Layers that
    /// may not be redistributed are left out, as registries leave them out of pushes.
    @discardableResult
    /// Whether an image for `platform` (`os/arch[/variant]`) is one asked for: a platform asked
    /// for without a variant takes every variant of its architecture (`linux/arm64` takes
    /// `linux/arm64/v8`).
    static func isWanted(_ platform: String, _ wanted: [String]) -> Bool {
        let have = platform.split(separator: "/")
        return wanted.contains { asked in
            let want = asked.split(separator: "/")
            return want.count >= 2 && have.count >= 2 && want[0] == have[0] && want[1] == have[1]
                && (want.count == 2 || (have.count > 2 && want[2] == have[2]))
        }
    }

    private func addImageManifest(_ digest: Digest, reader: any RepositoryReader, to layout: inout BundleLayout, reference: ImageReference,
                                  known: ByteBuffer? = nil) async throws -> String {
        var bytes = known
        var mediaType = ManifestMediaType.ociManifest
        if bytes == nil {
            let manifest = try await reader.manifest(.digest(digest), wantBody: true)
            bytes = manifest.bytes
            mediaType = manifest.record.mediaType
        }
        guard let bytes else { throw BundleError("\(reference): manifest \(digest) has no body") }
        let summary = try ManifestSummary(parsing: bytes.readableBytesView, contentType: known == nil ? mediaType : nil)
        layout.addManifest(bytes, digest: digest, mediaType: summary.mediaType, refName: nil)
        for blob in summary.requiredBlobDigests {
            layout.addBlob(blob, size: try await reader.blobSize(blob), from: reader)
        }
        return summary.mediaType
    }

    /// Every image the chart deploys, found the way `images ls` finds them.
    private func imagesOf(chart archive: [UInt8], name: String) throws -> [ImageReference] {
        let files: [SourceFile]
        do { files = try SourceLoader.chartArchive(bytes: archive, name: name) } catch { throw BundleError("\(error)") }
        let listed: [ListedImage]
        do { listed = try ImageListing.list(files) } catch { throw BundleError("\(error)") }
        return try listed.map { image in
            guard let reference = ImageReference.parse(image.image) else {
                throw BundleError("\(image.file):\(image.line): cannot tell which image this deploys (\(image.context)); "
                                  + "a bundle must hold every image, so pin it in the chart's values")
            }
            return reference
        }
    }

    private func unique(_ references: [ImageReference]) -> [ImageReference] {
        var seen = Set<String>()
        return references.filter { seen.insert($0.description).inserted }
    }

    private func repositoryName(_ text: String) throws -> RepositoryName {
        do { return try RepositoryName(parsing: text) } catch { throw BundleError("\(text) is not a repository name") }
    }

    private func readWhole(_ reader: any RepositoryReader, _ digest: Digest, limit: Int) async throws -> [UInt8]? {
        var out: [UInt8] = []
        try await BundleLayout.stream(digest, from: reader) { chunk in
            guard out.count + chunk.readableBytes <= limit else { throw BundleError("too large") }
            out += chunk.readableBytesView
        }
        return out.count <= limit ? out : nil
    }
}

/// The platforms of an index's manifests, and the index with only some of them.
struct IndexPlatforms {
    struct Child {
        var digest: Digest
        /// `os/arch[/variant]`.
        var platform: String
    }

    let children: [Child]
    private let json: [String: Any]

    init(_ bytes: ByteBuffer) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any],
              let manifests = object["manifests"] as? [[String: Any]] else { throw BundleError("index is not valid JSON") }
        json = object
        children = try manifests.map { entry in
            guard let text = entry["digest"] as? String, let digest = try? Digest(parsing: text) else { throw BundleError("index entry without a digest") }
            let platform = entry["platform"] as? [String: Any]
            let parts = [platform?["os"] as? String ?? "unknown", platform?["architecture"] as? String ?? "unknown"]
                + [(platform?["variant"] as? String)].compactMap { $0 }
            return Child(digest: digest, platform: parts.joined(separator: "/"))
        }
    }

    func keeping(_ digests: Set<Digest>) throws -> [UInt8] {
        var object = json
        object["manifests"] = (json["manifests"] as? [[String: Any]] ?? []).filter { entry in
            (entry["digest"] as? String).flatMap { try? Digest(parsing: $0) }.map(digests.contains) ?? false
        }
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}
