import Charts
import Foundation
import Licensing
import Logging
import NIOCore
import OCI
import RegistryCore
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

func chartArchive(name: String = "web", version: String = "0.5.0", values: String = "replicas: 1\n", schema: String? = nil) throws -> [UInt8] {
    try Gzip.compress(Tar.write([
        TarEntry(path: "\(name)/Chart.yaml", contents: Array("apiVersion: v2\nname: \(name)\nversion: \(version)\n".utf8)),
        TarEntry(path: "\(name)/values.yaml", contents: Array(values.utf8)),
    ] + (schema.map { [TarEntry(path: "\(name)/values.schema.json", contents: Array($0.utf8))] } ?? [])))
}

/// A request body whose client goes away after `parts`.
struct BrokenChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct ClientWentAway: Error {}
    let parts: [[UInt8]]
    struct AsyncIterator: AsyncIteratorProtocol {
        var rest: [[UInt8]]
        mutating func next() async throws -> ByteBuffer? {
            guard !rest.isEmpty else { throw ClientWentAway() }
            return ByteBuffer(bytes: rest.removeFirst())
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: parts) }
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

@Suite struct HostedRepositoryTests {
    func repository(_ env: Env, _ name: String) throws -> HostedRepository {
        HostedRegistry(repositories: env.store, visibility: env.store, blobs: env.blobs).repository(try RepositoryName(parsing: name))
    }

    func push(_ bytes: [UInt8], to repo: HostedRepository, algorithm: Digest.Algorithm = .sha256) async throws -> Digest {
        let id = try await repo.startUpload()
        _ = try await repo.appendUpload(id, start: nil, body: Chunks(parts: [Array(bytes.prefix(bytes.count / 2))]))
        let digest = Digest.of(bytes, algorithm: algorithm)
        try await repo.finishUpload(id, start: Int64(bytes.count / 2), lastChunk: Chunks(parts: [Array(bytes.dropFirst(bytes.count / 2))]), digest: digest)
        return digest
    }

    func length(_ content: BlobContent) -> Int64? {
        if case .complete(let reader) = content { return reader.length }
        return nil
    }

    @Test func chunkedUploadIsVerifiedAndVisibleOnlyWhereItWasPushed() async throws {
        let env = try await Env.make()
        let hosted = HostedRegistry(repositories: env.store, visibility: env.store, blobs: env.blobs)
        let api = try repository(env, "acme/api"), other = try repository(env, "acme/other"), foreign = try repository(env, "globex/api")
        let bytes = Array("layer contents".utf8)
        let id = try await api.startUpload()
        #expect(try await api.appendUpload(id, start: 0, body: Chunks(parts: [Array(bytes[0..<5])])) == 5)
        let outOfOrder = await #expect(throws: RegistryError.self) { try await api.appendUpload(id, start: 0, body: Chunks(parts: [[1]])) }
        #expect(outOfOrder?.status == 416)
        #expect(try await api.uploadSize(id) == 5, "the session survives an out-of-order chunk")
        #expect(try await api.appendUpload(id, start: 5, body: Chunks(parts: [Array(bytes[5...])])) == Int64(bytes.count))
        await #expect(throws: RegistryError.self, "another repository cannot finish it") {
            try await hosted.repository(try RepositoryName(parsing: "other/api")).finishUpload(id, start: nil, lastChunk: Chunks(parts: []), digest: Digest.of(bytes))
        }
        try await api.finishUpload(id, start: nil, lastChunk: Chunks(parts: []), digest: Digest.of(bytes))
        #expect(length(try await api.blob(Digest.of(bytes))) == Int64(bytes.count))
        await #expect(throws: RegistryError.self) { try await other.blob(Digest.of(bytes)) }
        #expect(try await other.mount(Digest.of(bytes), from: nil) == false, "nothing to mount from")
        #expect(try await foreign.mount(Digest.of(bytes), from: api.name) == false, "never across apps")
        #expect(try await other.mount(Digest.of(bytes), from: api.name))
        #expect(length(try await other.blob(Digest.of(bytes))) == Int64(bytes.count))

        // Deleting a blob removes it from one repository, at once, and leaves the others.
        try await other.deleteBlob(Digest.of(bytes))
        await #expect(throws: RegistryError.self) { try await other.blobSize(Digest.of(bytes)) }
        #expect(try await api.blobSize(Digest.of(bytes)) == Int64(bytes.count))
        await #expect(throws: RegistryError(.blobUnknown, "blob unknown to registry")) { try await other.deleteBlob(Digest.of(bytes)) }
        try await env.close()
    }

    @Test func openSessionsAreBoundedAndACancelMakesRoom() async throws {
        let env = try await Env.make()
        let sessions = LocalUploadSessions(store: env.blobs, sessionLimit: 3)
        var ids: [String] = []
        for _ in 0..<3 { ids.append(try await sessions.start(repository: "acme/api")) }
        let refusal = await #expect(throws: RegistryError.self) { try await sessions.start(repository: "acme/api") }
        #expect(refusal?.code == .tooManyRequests && refusal?.retryAfter != nil)
        #expect(await sessions.cancel(ids[0], repository: "acme/api"))
        _ = try await sessions.start(repository: "acme/api")
        try await env.close()
    }

    @Test func aWriteThatFailsIsTheServersNotTheClients() async throws {
        let env = try await Env.make()
        let file = try env.blobs.makeSpoolFile()
        defer { env.blobs.discard(file) }
        // A descriptor that cannot be written to stands in for a full disk: the body arrived
        // whole, so the failure must not read as an interrupted upload.
        let readOnly = try BlobFile.openForReading(file.path)
        let failure = await #expect(throws: (any Error).self) { try await UploadSpool.write(Chunks(parts: [[1, 2, 3]]), to: readOnly, at: 0) }
        #expect(!(failure is RegistryError), "a server-side write failure was reported as the client's: \(String(describing: failure))")
        try await env.close()
    }

    @Test func aChunkCutOffMidwayLeavesTheSessionToResume() async throws {
        let env = try await Env.make()
        let api = try repository(env, "acme/api")
        let bytes = (0..<300_000).map { UInt8($0 % 253) }
        let id = try await api.startUpload()
        #expect(try await api.appendUpload(id, start: 0, body: Chunks(parts: [Array(bytes[..<100_000])])) == 100_000)
        // The second chunk breaks after 50,000 of its bytes, and so does a final PUT.
        let broken = await #expect(throws: RegistryError.self) {
            try await api.appendUpload(id, start: 100_000, body: BrokenChunks(parts: [Array(bytes[100_000..<150_000])]))
        }
        #expect(broken?.code == .blobUploadInvalid && broken?.message.contains("100000 bytes") == true)
        #expect(try await api.uploadSize(id) == 100_000, "the session is kept at the bytes before the broken chunk")
        await #expect(throws: RegistryError.self) {
            try await api.finishUpload(id, start: 100_000, lastChunk: BrokenChunks(parts: [[1, 2, 3]]), digest: Digest.of(bytes))
        }
        #expect(try await api.uploadSize(id) == 100_000)
        // Resumed from there, the blob is whole, nothing of the broken writes in it.
        #expect(try await api.appendUpload(id, start: 100_000, body: Chunks(parts: [Array(bytes[100_000..<200_000])])) == 200_000)
        try await api.finishUpload(id, start: 200_000, lastChunk: Chunks(parts: [Array(bytes[200_000...])]), digest: Digest.of(bytes))
        #expect(try await env.blobs.readAll(Digest.of(bytes), limit: 1 << 20).map { Array($0.readableBytesView) } == bytes)
        try await env.close()
    }

    @Test func sha512UploadsAreVerifiedWithSha512() async throws {
        let env = try await Env.make()
        let api = try repository(env, "acme/api")
        let bytes = Array("sixty-four bytes of hash".utf8)
        let digest = try await push(bytes, to: api, algorithm: .sha512)
        #expect(digest.description.hasPrefix("sha512:") && digest.hex.count == 128)
        #expect(try await api.blobSize(digest) == Int64(bytes.count))
        await #expect(throws: RegistryError.self, "a sha256 digest of the same bytes names another blob") {
            try await api.blobSize(Digest.of(bytes))
        }
        try await env.close()
    }

    @Test func wrongDigestLeavesNothing() async throws {
        let env = try await Env.make()
        let api = try repository(env, "acme/api")
        let id = try await api.startUpload()
        _ = try await api.appendUpload(id, start: nil, body: Chunks(parts: [Array("abc".utf8)]))
        let claimed = Digest.of(Array("xyz".utf8))
        await #expect(throws: RegistryError.self) { try await api.finishUpload(id, start: nil, lastChunk: Chunks(parts: []), digest: claimed) }
        #expect(try await env.blobs.size(of: claimed) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: env.dir + "/spool").isEmpty)
        try await env.close()
    }

    @Test func manifestsNeedTheirBlobs() async throws {
        let env = try await Env.make()
        let api = try repository(env, "acme/api")
        let config = Array("{}".utf8)
        let manifest = """
            {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(Digest.of(config))","size":2},"layers":[]}
            """
        await #expect(throws: RegistryError(.manifestBlobUnknown, "blob \(Digest.of(config)) is not in this repository; push it first")) {
            try await api.putManifest(.tag("v1"), bytes: ByteBuffer(string: manifest), contentType: nil)
        }
        _ = try await push(config, to: api)
        // A descriptor whose size is not the blob's would make an image no client can pull.
        await #expect(throws: RegistryError(.manifestInvalid, "blob \(Digest.of(config)) is 2 bytes; the manifest says 3")) {
            try await api.putManifest(.tag("v1"), bytes: ByteBuffer(string: manifest.replacingOccurrences(of: #""size":2"#, with: #""size":3"#)),
                                      contentType: nil)
        }
        let stored = try await api.putManifest(.tag("v1"), bytes: ByteBuffer(string: manifest), contentType: nil)
        #expect(stored.record.digest == Digest.of(Array(manifest.utf8)) && stored.subject == nil)
        let byTag = try await api.manifest(.tag("v1"), wantBody: true)
        #expect(byTag.record == stored.record && byTag.bytes.map { String(buffer: $0) } == manifest)
        await #expect(throws: RegistryError.self, "a digest reference must match the content") {
            try await api.putManifest(.digest(Digest.of(config)), bytes: ByteBuffer(string: manifest), contentType: nil)
        }
        try await api.deleteManifest(.digest(stored.record.digest))
        await #expect(throws: RegistryError.self) { try await api.manifest(.tag("v1"), wantBody: false) }
        try await env.close()
    }

    @Test func nonDistributableLayersNeedNoBlobAndSha512ManifestsAreHashedWithSha512() async throws {
        let env = try await Env.make()
        let api = try repository(env, "acme/api")
        let config = try await push(Array("{}".utf8), to: api)
        let foreign = Digest.of(Array("never pushed".utf8))
        let manifest = """
            {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config)","size":2},\
            "layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"\(foreign)","size":123456,\
            "urls":["https://store.example.com/blobs/\(foreign)"]}]}
            """
        let digest = Digest.of(Array(manifest.utf8), algorithm: .sha512)
        let stored = try await api.putManifest(.digest(digest), bytes: ByteBuffer(string: manifest), contentType: ManifestMediaType.ociManifest)
        #expect(stored.record.digest == digest)
        #expect(try await api.manifest(.digest(digest), wantBody: true).bytes.map { String(buffer: $0) } == manifest)
        try await env.close()
    }

    @Test func referrersAreListedByTheirSubjectAndFilteredByArtifactType() async throws {
        let env = try await Env.make()
        let api = try repository(env, "acme/api")
        let empty = try await push(Array("{}".utf8), to: api)
        let subject = Digest.of(Array("a subject that is not pushed yet".utf8))
        func referrer(_ artifactType: String?, config: String, note: String) -> String {
            let type = artifactType.map { #""artifactType":"\#($0)","# } ?? ""
            return """
                {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\(type)\
                "config":{"mediaType":"\(config)","digest":"\(empty)","size":2},"layers":[],\
                "subject":{"mediaType":"\(ManifestMediaType.ociManifest)","digest":"\(subject)","size":10},\
                "annotations":{"note":"\(note)"}}
                """
        }
        let signature = referrer("application/vnd.example.signature", config: LayerMediaType.empty, note: "sig")
        let sbom = referrer(nil, config: "application/vnd.example.sbom.config", note: "sbom")
        for document in [signature, sbom] {
            let stored = try await api.putManifest(.digest(Digest.of(Array(document.utf8))), bytes: ByteBuffer(string: document), contentType: nil)
            #expect(stored.subject == subject, "answered as OCI-Subject")
        }
        let all = try await api.referrers(subject, artifactType: nil)
        #expect(!all.filteredByArtifactType)
        #expect(Set(all.entries.map(\.artifactType)) == ["application/vnd.example.signature", "application/vnd.example.sbom.config"],
                "an image manifest without artifactType is listed by its config's media type")
        #expect(Set(all.entries.compactMap { $0.annotations?["note"] }) == ["sig", "sbom"])
        #expect(all.entries.allSatisfy { $0.mediaType == ManifestMediaType.ociManifest && $0.size > 0 })
        let signatures = try await api.referrers(subject, artifactType: "application/vnd.example.signature")
        #expect(signatures.filteredByArtifactType && signatures.entries.map(\.digest) == [Digest.of(Array(signature.utf8))])
        #expect(try await api.referrers(empty, artifactType: nil).entries.isEmpty)
        #expect(try await repository(env, "acme/other").referrers(subject, artifactType: nil).entries.isEmpty, "per repository")
        try await api.deleteManifest(.digest(Digest.of(Array(sbom.utf8))))
        #expect(try await api.referrers(subject, artifactType: nil).entries.count == 1)
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

    @Test func chartVersionsAreServedAsTheTagsHelmAsksFor() async throws {
        let env = try await Env.make()
        let app = AppRecord(slug: "acme", name: "Acme")
        try await env.store.createApp(app)
        let catalog = ReleaseCatalog(store: env.store, blobs: env.blobs)
        try await catalog.createDefaultChannels(appID: app.id)
        // cert-manager's charts are `v1.21.1`; build metadata travels as `_` in OCI tags.
        _ = try await catalog.createRelease(appID: app.id, archives: [try chartArchive(version: "v1.21.1")], version: "1.0.0",
                                            notes: nil, promoteTo: "Stable")
        _ = try await catalog.createRelease(appID: app.id, archives: [try chartArchive(name: "api", version: "0.3.0+abc.1")],
                                            version: "1.0.1", notes: nil, promoteTo: "Stable")
        let web = try #require(try await catalog.chartRepository(appID: app.id, path: ["web"]))
        #expect(Array(web.versions.keys) == ["v1.21.1"])
        let api = try #require(try await catalog.chartRepository(appID: app.id, path: ["api"]))
        #expect(Array(api.versions.keys) == ["0.3.0_abc.1"] && api.versions["0.3.0_abc.1"]?.version == "0.3.0+abc.1")
        #expect(api.placements["0.3.0_abc.1"] != nil)
        // A release's own version may carry the v as well; a channel no name matches is said with the ones there are.
        let sequence = try await catalog.createRelease(appID: app.id, archives: [try chartArchive(version: "2.0.0")], version: "v2.0.0",
                                                       notes: nil, promoteTo: nil)
        await #expect(throws: CatalogError("unknown channel \"beta-id\": channels are named by name, slug or ID; this app's are Unstable, Beta, Stable")) {
            try await catalog.promote(appID: app.id, sequence: sequence, channel: "beta-id", version: "v2.0.0", notes: nil)
        }
        // …and by the ID `channel ls` shows.
        let beta = try #require(try await catalog.channels(appID: app.id).first { $0.name == "Beta" })
        #expect(try await catalog.channel(appID: app.id, named: beta.id)?.name == "Beta")
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
        // Values that are a list cannot take the license values: refused now, not at every customer's pull.
        await #expect(throws: CatalogError("chart web cannot be delivered to customers: values.yaml is not a mapping")) {
            try await catalog.createRelease(appID: app.id, archives: [try chartArchive(values: "- a\n- b\n")], version: "1.0.0", notes: nil,
                                            promoteTo: nil)
        }
        // A schema that allows no global.replicated fails every customer's install.
        for schema in [#"{"properties": {"global": {"type": "object", "additionalProperties": false, "properties": {"x": {}}}}}"#,
                       #"{"additionalProperties": false, "properties": {"replicas": {}}}"#] {
            await #expect(throws: CatalogError.self) {
                try await catalog.createRelease(appID: app.id, archives: [try chartArchive(schema: schema)], version: "1.0.0", notes: nil,
                                                promoteTo: nil)
            }
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
        let delivery = ChartDelivery(blobs: env.blobs, index: env.store, visibility: env.store)
        let archive = try chartArchive(values: "# keep me\nglobal:\n  someSetting: x\n")
        let digest = Digest.of(archive)
        try await env.blobs.put(ByteBuffer(bytes: archive), as: digest)
        let chart = ReleaseChartRecord(releaseID: "r", name: "web", version: "0.5.0", digest: digest, size: Int64(archive.count))
        func customer(_ id: String) -> ChartDelivery.Recipient {
            .customer(License(customerID: id, appID: "a", appSlug: "acme", customerName: "C \(id)", customerEmail: "c@x", channel: "Beta",
                              type: .trial, expiresAt: nil, archived: false, helmInstall: true),
                      licenseID: "lic-\(id)", pullSecret: "secret-\(id)", channelName: "Beta", licenseFields: [])
        }
        let (a1, bytes) = try await delivery.artifact(chart, repository: "acme/beta/web", for: customer("1"))
        let (a2, _) = try await delivery.artifact(chart, repository: "acme/beta/web", for: customer("1"))
        let (b, _) = try await delivery.artifact(chart, repository: "acme/beta/web", for: customer("2"))
        #expect(a1.digest == a2.digest && a1.digest != b.digest)

        let manifest = try ManifestSummary(parsing: bytes.readableBytesView, contentType: nil)
        let layer = try #require(manifest.layers.first)
        #expect(try await delivery.isDelivered(layer.digest, repository: "acme/beta/web", to: customer("1").audience))
        #expect(try await delivery.isDelivered(layer.digest, repository: "acme/beta/web", to: customer("2").audience) == false)
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

    /// A recipe is built once and then found: by this process in memory, by another (a restart, a
    /// replica) in the store, with the same digests; a change to what is injected builds anew.
    @Test func aRecipeIsBuiltOnceAndThenLookedUp() async throws {
        let env = try await Env.make()
        let archive = try chartArchive(values: "replicas: 1\n")
        let digest = Digest.of(archive)
        try await env.blobs.put(ByteBuffer(bytes: archive), as: digest)
        let chart = ReleaseChartRecord(releaseID: "r", name: "web", version: "0.5.0", digest: digest, size: Int64(archive.count))
        func customer(email: String) -> ChartDelivery.Recipient {
            .customer(License(customerID: "c1", appID: "a", appSlug: "acme", customerName: "C", customerEmail: email, channel: "Beta",
                              type: .trial, expiresAt: nil, archived: false, helmInstall: true),
                      licenseID: "lic-1", pullSecret: "secret-1", channelName: "Beta", licenseFields: [])
        }
        let first = ChartDelivery(blobs: env.blobs, index: env.store, visibility: env.store, built: env.store)
        async let x = first.artifact(chart, repository: "acme/beta/web", for: customer(email: "a@x"))
        async let y = first.artifact(chart, repository: "acme/beta/web", for: customer(email: "a@x"))
        let (built, same) = try await (x, y)
        #expect(built.0.digest == same.0.digest)
        let key = customer(email: "a@x").recipeKey(chart: digest, repository: "acme/beta/web", placement: nil)
        #expect(try await env.store.useDeliveredChart(key: key, at: Date())?.digest == built.0.digest, "the recipe is kept in the store")

        // Another process finds it in the store: the archive it was built from is not even read.
        try await env.blobs.delete(digest)
        let second = ChartDelivery(blobs: env.blobs, index: env.store, visibility: env.store, built: env.store)
        let (found, bytes) = try await second.artifact(chart, repository: "acme/beta/web", for: customer(email: "a@x"))
        #expect(found.digest == built.0.digest && bytes == built.1)

        // What is injected changed: a new recipe, built from the chart (which now must be there).
        await #expect(throws: RegistryError.self) {
            try await second.artifact(chart, repository: "acme/beta/web", for: customer(email: "b@x"))
        }
        try await env.blobs.put(ByteBuffer(bytes: archive), as: digest)
        let (changed, _) = try await second.artifact(chart, repository: "acme/beta/web", for: customer(email: "b@x"))
        #expect(changed.digest != built.0.digest)
        try await env.close()
    }
}
