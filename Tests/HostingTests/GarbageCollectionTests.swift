import Foundation
import Logging
import NIOCore
import OCI
import RegistryCore
import Storage
import Testing
@testable import Hosting

@Suite struct GarbageCollectionTests {
    let helpers = HostedRepositoryTests()

    func manifest(config: Digest, configSize: Int, layers: [(Digest, Int)]) -> ByteBuffer {
        let layerJSON = layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0.0)","size":\#($0.1)}"# }
        return ByteBuffer(string: """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config)","size":\(configSize)},\
            "layers":[\(layerJSON.joined(separator: ","))]}
            """)
    }

    func collector(_ env: Env) -> HostedGarbageCollector {
        HostedGarbageCollector(store: env.store, blobs: env.blobs, logger: Logger(label: "gc"))
    }

    /// Links are timed in milliseconds: collect "a moment later" so a grace of 0 covers them.
    var later: Date { Date().addingTimeInterval(1) }

    @Test func unreferencedBlobsGoAfterTheGracePeriodAndReferencedOnesStay() async throws {
        let env = try await Env.make()
        let api = try helpers.repository(env, "acme/api")
        let config = Array(#"{"architecture":"amd64"}"#.utf8), layer = Array("layer bytes".utf8), orphan = Array("pushed, never named".utf8)
        let configDigest = try await helpers.push(config, to: api), layerDigest = try await helpers.push(layer, to: api)
        let orphanDigest = try await helpers.push(orphan, to: api)
        let stored = try await api.putManifest(.tag("v1"), bytes: manifest(config: configDigest, configSize: config.count,
                                                                               layers: [(layerDigest, layer.count)]), contentType: nil)

        let young = try await collector(env).collect(grace: 3600, dryRun: false)
        #expect(young.unreferencedLinks.isEmpty && young.deletedBlobs.isEmpty)
        #expect(young.keptInGrace == 1, "the orphan was pushed within the grace period")

        let dry = try await collector(env).collect(grace: 0, dryRun: true, now: later)
        #expect(dry.unreferencedLinks.map(\.digest) == [orphanDigest])
        #expect(dry.deletedBlobs == [orphanDigest] && dry.freedBytes == Int64(orphan.count))
        #expect(try await env.blobs.size(of: orphanDigest) == Int64(orphan.count), "a dry run removes nothing")
        #expect(try await api.blobSize(orphanDigest) == Int64(orphan.count))

        let real = try await collector(env).collect(grace: 0, dryRun: false, now: later)
        #expect(real == GarbageCollectionReport(unreferencedLinks: dry.unreferencedLinks, deletedBlobs: [orphanDigest],
                                                freedBytes: Int64(orphan.count), keptInGrace: 0, dryRun: false))
        #expect(try await env.blobs.size(of: orphanDigest) == nil)
        await #expect(throws: RegistryError.self) { try await api.blobSize(orphanDigest) }
        for (digest, size) in [(configDigest, config.count), (layerDigest, layer.count), (stored.record.digest, Int(stored.record.size))] {
            #expect(try await api.blobSize(digest) == Int64(size), "referenced content stays")
        }
        #expect(try await api.manifest(.tag("v1"), wantBody: true).bytes != nil)

        // Deleting the manifest leaves its blobs unreferenced: the next collection takes them all.
        try await api.deleteManifest(.digest(stored.record.digest))
        let after = try await collector(env).collect(grace: 0, dryRun: false, now: later)
        #expect(Set(after.deletedBlobs) == [configDigest, layerDigest, stored.record.digest])
        for digest in [configDigest, layerDigest, stored.record.digest] { #expect(try await env.blobs.size(of: digest) == nil) }
        try await env.close()
    }

    @Test func bytesHeldElsewhereOutliveTheRepositorysClaim() async throws {
        let env = try await Env.make()
        let api = try helpers.repository(env, "acme/api"), web = try helpers.repository(env, "acme/web")
        let shared = Array("in two repositories".utf8), cached = Array("also proxied".utf8)
        let sharedDigest = try await helpers.push(shared, to: api)
        #expect(try await web.mount(sharedDigest, from: api.name))
        let config = Array("{}".utf8)
        let configDigest = try await helpers.push(config, to: web)
        _ = try await web.putManifest(.tag("v1"), bytes: manifest(config: configDigest, configSize: config.count,
                                                                  layers: [(sharedDigest, shared.count)]), contentType: nil)
        let cachedDigest = try await helpers.push(cached, to: api)
        try await env.store.recordCached(cachedDigest, size: Int64(cached.count), references: [], at: Date())

        let report = try await collector(env).collect(grace: 0, dryRun: false, now: later)
        #expect(Set(report.unreferencedLinks.map(\.digest)) == [sharedDigest, cachedDigest], "api's claims are unreferenced there")
        #expect(report.deletedBlobs.isEmpty, "web still references one, the proxy cache holds the other")
        #expect(try await web.blobSize(sharedDigest) == Int64(shared.count))
        #expect(try await env.blobs.size(of: cachedDigest) == Int64(cached.count))
        await #expect(throws: RegistryError.self) { try await api.blobSize(sharedDigest) }
        try await env.close()
    }

    @Test func aClaimRenewedOrBecomeAManifestIsNotRemoved() async throws {
        let env = try await Env.make()
        let api = try helpers.repository(env, "acme/api")
        let blob = Array("named by a manifest being pushed".utf8)
        let digest = try await helpers.push(blob, to: api)
        let key = "acme/api"
        #expect(try await env.store.removeHostedLink(repository: key, digest: digest, linkedBefore: Date().addingTimeInterval(-60)) == false,
                "younger than the cutoff")
        #expect(try await env.store.renewVisible(digest, in: .hosted(repository: key)))
        #expect(try await env.store.renewVisible(Digest.of(Array("never pushed".utf8)), in: .hosted(repository: key)) == false)
        let config = Array("{}".utf8)
        let configDigest = try await helpers.push(config, to: api)
        let stored = try await api.putManifest(.tag("v1"), bytes: manifest(config: configDigest, configSize: config.count,
                                                                         layers: [(digest, blob.count)]), contentType: nil)
        #expect(try await env.store.removeHostedLink(repository: key, digest: stored.record.digest, linkedBefore: later) == false,
                "a manifest of the repository is never an unreferenced claim")
        #expect(try await env.store.removeHostedLink(repository: key, digest: digest, linkedBefore: later), "an old plain claim goes")
        try await env.close()
    }
}
