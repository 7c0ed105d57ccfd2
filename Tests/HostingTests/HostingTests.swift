import Charts
import Foundation
import Licensing
import Logging
import NIOCore
import OCI
import Storage
import Testing
import Yams
@testable import Hosting

struct Env {
    let dir: String
    let store: SQLMetadataStore
    let blobs: FileBlobStore

    static func make() async throws -> Env {
        let dir = NSTemporaryDirectory() + "hosting-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: Logger(label: "t"))
        return Env(dir: dir, store: store, blobs: try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool"))
    }

    func close() async throws {
        try await store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

func chartArchive(name: String = "web", version: String = "0.5.0", values: String = "replicas: 1\n") throws -> [UInt8] {
    try Gzip.compress(Tar.write([
        TarEntry(path: "\(name)/Chart.yaml", contents: Array("apiVersion: v2\nname: \(name)\nversion: \(version)\n".utf8)),
        TarEntry(path: "\(name)/values.yaml", contents: Array(values.utf8)),
    ]))
}

struct Chunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let parts: [[UInt8]]
    struct AsyncIterator: AsyncIteratorProtocol {
        var rest: [[UInt8]]
        mutating func next() async throws -> ByteBuffer? { rest.isEmpty ? nil : ByteBuffer(bytes: rest.removeFirst()) }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: parts) }
}

@Suite struct HostedRegistryTests {
    @Test func chunkedUploadIsVerifiedAndLinked() async throws {
        let env = try await Env.make()
        let hosted = HostedRegistry(repositories: env.store, links: env.store, blobs: env.blobs)
        let bytes = Array("layer contents".utf8)
        let id = try await hosted.uploads.start(repository: "acme/api")
        #expect(try await hosted.uploads.append(id, repository: "acme/api", start: 0, body: Chunks(parts: [Array(bytes[0..<5])])) == 5)
        await #expect(throws: RegistryError.self) {
            try await hosted.uploads.append(id, repository: "acme/api", start: 0, body: Chunks(parts: [[1]]))
        }
        #expect(try await hosted.uploads.append(id, repository: "acme/api", start: 5, body: Chunks(parts: [Array(bytes[5...])])) == Int64(bytes.count))
        await #expect(throws: RegistryError.self, "another repository cannot finish it") {
            try await hosted.finishUpload(id, repository: "other/api", digest: Digest.of(bytes))
        }
        try await hosted.finishUpload(id, repository: "acme/api", digest: Digest.of(bytes))
        #expect(try await hosted.blob("acme/api", Digest.of(bytes)).length == Int64(bytes.count))
        await #expect(throws: RegistryError.self) { try await hosted.blob("acme/other", Digest.of(bytes)) }
        #expect(try await hosted.mount(Digest.of(bytes), from: "acme/api", into: "acme/other"))
        #expect(try await hosted.blob("acme/other", Digest.of(bytes)).length == Int64(bytes.count))
        try await env.close()
    }

    @Test func wrongDigestLeavesNothing() async throws {
        let env = try await Env.make()
        let hosted = HostedRegistry(repositories: env.store, links: env.store, blobs: env.blobs)
        let id = try await hosted.uploads.start(repository: "acme/api")
        _ = try await hosted.uploads.append(id, repository: "acme/api", start: nil, body: Chunks(parts: [Array("abc".utf8)]))
        let claimed = Digest.of(Array("xyz".utf8))
        await #expect(throws: RegistryError.self) { try await hosted.finishUpload(id, repository: "acme/api", digest: claimed) }
        #expect(try await env.blobs.size(of: claimed) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: env.dir + "/spool").isEmpty)
        try await env.close()
    }

    @Test func manifestsNeedTheirBlobs() async throws {
        let env = try await Env.make()
        let hosted = HostedRegistry(repositories: env.store, links: env.store, blobs: env.blobs)
        let config = Array("{}".utf8)
        let manifest = """
            {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(Digest.of(config))","size":2},"layers":[]}
            """
        await #expect(throws: RegistryError(.manifestBlobUnknown, "blob \(Digest.of(config)) is not in this repository; push it first")) {
            try await hosted.putManifest("acme/api", reference: .tag("v1"), bytes: ByteBuffer(string: manifest), contentType: nil)
        }
        let id = try await hosted.uploads.start(repository: "acme/api")
        _ = try await hosted.uploads.append(id, repository: "acme/api", start: nil, body: Chunks(parts: [config]))
        try await hosted.finishUpload(id, repository: "acme/api", digest: Digest.of(config))
        let record = try await hosted.putManifest("acme/api", reference: .tag("v1"), bytes: ByteBuffer(string: manifest), contentType: nil)
        #expect(record.digest == Digest.of(Array(manifest.utf8)))
        let (byTag, bytes) = try await hosted.manifest("acme/api", .tag("v1"), wantBody: true)
        #expect(byTag == record && bytes.map { String(buffer: $0) } == manifest)
        await #expect(throws: RegistryError.self, "a digest reference must match the content") {
            try await hosted.putManifest("acme/api", reference: .digest(Digest.of(config)), bytes: ByteBuffer(string: manifest), contentType: nil)
        }
        try await hosted.delete("acme/api", .digest(record.digest))
        await #expect(throws: RegistryError.self) { try await hosted.manifest("acme/api", .tag("v1"), wantBody: false) }
        try await env.close()
    }
}

@Suite struct ReleaseCatalogTests {
    @Test func releasesPromotionsAndChartRepositories() async throws {
        let env = try await Env.make()
        let app = AppRecord(slug: "acme", name: "Acme")
        try await env.store.createApp(app)
        let catalog = ReleaseCatalog(store: env.store, blobs: env.blobs)
        try await catalog.createDefaultChannels(appID: app.id)
        #expect(try await catalog.channels(appID: app.id).map(\.slug) == ["unstable", "beta", "stable"])

        let first = try await catalog.createRelease(appID: app.id, archives: [try chartArchive()], version: "0.5.0", notes: "n", promoteTo: "Unstable")
        try await catalog.promote(appID: app.id, sequence: first, channel: "beta", version: "0.5.0", notes: nil)
        try await catalog.promote(appID: app.id, sequence: first, channel: "Stable", version: "0.5.0", notes: nil)
        let second = try await catalog.createRelease(appID: app.id, archives: [try chartArchive(version: "0.6.0")], version: "0.6.0",
                                                     notes: nil, promoteTo: "Unstable")
        #expect(second == first + 1)
        let summaries = try await catalog.summaries(appID: app.id)
        #expect(summaries.map(\.release.sequence) == [second, first])
        #expect(summaries[0].activeChannels == ["Unstable"])
        #expect(summaries[1].activeChannels == ["Stable", "Beta"])

        let unstable = try #require(try await catalog.chartRepository(appID: app.id, path: ["unstable", "web"]))
        #expect(Set(unstable.versions.keys) == ["0.5.0", "0.6.0"])
        let stable = try #require(try await catalog.chartRepository(appID: app.id, path: ["web"]))
        #expect(Set(stable.versions.keys) == ["0.5.0"] && stable.channel.name == "Stable")
        #expect(try await catalog.chartRepository(appID: app.id, path: ["api"]) == nil, "not a chart: a hosted repository")
        #expect(try await catalog.chartRepository(appID: app.id, path: ["nightly", "web"]) == nil)
        try await env.close()
    }

    @Test func rejectsBadInputWithoutSideEffects() async throws {
        let env = try await Env.make()
        let app = AppRecord(slug: "acme", name: "Acme")
        try await env.store.createApp(app)
        let catalog = ReleaseCatalog(store: env.store, blobs: env.blobs)
        try await catalog.createDefaultChannels(appID: app.id)
        await #expect(throws: CatalogError.self) {
            try await catalog.createRelease(appID: app.id, archives: [try chartArchive()], version: "five", notes: nil, promoteTo: nil)
        }
        await #expect(throws: CatalogError.self) {
            try await catalog.createRelease(appID: app.id, archives: [Array("junk".utf8)], version: "1.0.0", notes: nil, promoteTo: nil)
        }
        await #expect(throws: CatalogError.self) {
            try await catalog.createRelease(appID: app.id, archives: [try chartArchive()], version: "1.0.0", notes: nil, promoteTo: "Nightly")
        }
        await #expect(throws: CatalogError.self) {
            try await catalog.createRelease(appID: app.id, archives: [try chartArchive(), try chartArchive(version: "1.0.0")], version: "1.0.0",
                                            notes: nil, promoteTo: nil)
        }
        #expect(try await catalog.summaries(appID: app.id).isEmpty)
        await #expect(throws: StoreError.self) { try await catalog.createChannel(appID: app.id, name: "beta") }
        try await env.close()
    }
}

@Suite struct ChartDeliveryTests {
    @Test func customersGetStableInjectedChartsAndVendorsTheOriginal() async throws {
        let env = try await Env.make()
        let delivery = ChartDelivery(blobs: env.blobs, index: env.store)
        let archive = try chartArchive(values: "# keep me\nglobal:\n  someSetting: x\n")
        let digest = Digest.of(archive)
        try await env.blobs.put(ByteBuffer(bytes: archive), as: digest)
        let chart = ReleaseChartRecord(releaseID: "r", name: "web", version: "0.5.0", digest: digest, size: Int64(archive.count))
        func customer(_ id: String) -> ChartDelivery.Recipient {
            .customer(License(customerID: id, appID: "a", appSlug: "acme", customerName: "C \(id)", customerEmail: "c@x", channel: "Beta",
                              type: .trial, expiresAt: nil, archived: false, helmInstall: true),
                      licenseID: "lic-\(id)", pullSecret: "secret-\(id)", channelName: "Beta")
        }
        let (a1, bytes) = try await delivery.artifact(chart, repository: "acme/beta/web", for: customer("1"))
        let (a2, _) = try await delivery.artifact(chart, repository: "acme/beta/web", for: customer("1"))
        let (b, _) = try await delivery.artifact(chart, repository: "acme/beta/web", for: customer("2"))
        #expect(a1.digest == a2.digest && a1.digest != b.digest)

        let manifest = try ManifestSummary(parsing: bytes.readableBytesView, contentType: nil)
        let layer = try #require(manifest.layers.first)
        #expect(try await delivery.isDelivered(layer.digest, repository: "acme/beta/web", to: customer("1")))
        #expect(try await delivery.isDelivered(layer.digest, repository: "acme/beta/web", to: customer("2")) == false)
        let layerBytes = try #require(try await env.blobs.readAll(layer.digest, limit: 1 << 20))
        let values = try #require(try ChartPackage.parse(archive: Array(layerBytes.readableBytesView)).values)
        #expect(values.contains("# keep me"))
        let global = try #require((try Yams.load(yaml: values) as? [String: Any])?["global"] as? [String: Any])
        #expect(global["someSetting"] as? String == "x")
        let replicated = try #require(global["replicated"] as? [String: Any])
        #expect(replicated["dockerconfigjson"] as? String == "secret-1")
        #expect(replicated["licenseID"] as? String == "lic-1" && replicated["channelName"] as? String == "Beta")
        #expect(replicated["licenseType"] as? String == "trial" && replicated["customerEmail"] as? String == "c@x")

        let (vendor, vendorBytes) = try await delivery.artifact(chart, repository: "acme/beta/web", for: .vendor)
        let vendorLayer = try #require(try ManifestSummary(parsing: vendorBytes.readableBytesView, contentType: nil).layers.first)
        #expect(vendorLayer.digest == digest, "vendors get the archive exactly as released")
        #expect(vendor.digest != a1.digest)
        try await env.close()
    }
}
