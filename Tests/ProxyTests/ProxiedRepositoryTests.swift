import Foundation
import Logging
import NIOCore
import OCI
import RegistryCore
import Storage
import TestSupport
import Testing
import Upstream
@testable import Proxy

// MARK: - A fake upstream registry

/// A body that yields its bytes only once `gate` opens.
struct GatedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let gate: Gate
    let bytes: [UInt8]

    struct AsyncIterator: AsyncIteratorProtocol {
        let gate: Gate
        var rest: [UInt8]?

        mutating func next() async throws -> ByteBuffer? {
            guard let bytes = rest else { return nil }
            rest = nil
            await gate.wait()
            return ByteBuffer(bytes: bytes)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(gate: gate, rest: bytes) }
}

/// An in-memory vendor registry: manifests, tags, blobs, tag pages and referrers per
/// repository, a request counter per operation, and failures that can be switched on.
actor FakeUpstream: UpstreamRegistry {
    enum Operation: String, CaseIterable, Sendable {
        case manifestHead, manifest, blob, blobSize, tagPage, referrers, ping
    }

    struct Stored {
        var bytes: [UInt8]
        var mediaType: String
    }

    private var counts: [Operation: Int] = [:]
    private var failures: [Operation: UpstreamError] = [:]
    private var manifests: [String: [Digest: Stored]] = [:]
    private var tags: [String: [String: Digest]] = [:]
    /// Bytes served instead of the real ones for a digest (a broken or malicious upstream).
    private var corrupted: [Digest: [UInt8]] = [:]
    /// `Docker-Content-Digest` values that differ from the content.
    private var declared: [Digest: Digest] = [:]
    private var blobs: [String: [Digest: [UInt8]]] = [:]
    private var blobGate: Gate?
    private var tagPages: [String: [[String]]] = [:]
    private(set) var tagQueries: [[UpstreamQueryItem]] = []
    private var referrerDocuments: [String: [Digest: [UInt8]]] = [:]
    private(set) var referrerArtifactTypes: [String?] = []

    func count(_ operation: Operation) -> Int { counts[operation, default: 0] }

    /// Makes `operations` (all by default) fail with `error`; nil makes them work again.
    func fail(_ error: UpstreamError?, _ operations: [Operation] = Operation.allCases) {
        for operation in operations { failures[operation] = error }
    }

    @discardableResult
    func putManifest(_ repository: String, tag: String?, _ json: String, mediaType: String = ManifestMediaType.ociManifest) -> Digest {
        let bytes = Array(json.utf8)
        let digest = Digest.of(bytes)
        manifests[repository, default: [:]][digest] = Stored(bytes: bytes, mediaType: mediaType)
        if let tag { tags[repository, default: [:]][tag] = digest }
        return digest
    }

    func corrupt(_ digest: Digest, with bytes: [UInt8]?) { corrupted[digest] = bytes }
    func declare(_ digest: Digest, as header: Digest?) { declared[digest] = header }

    @discardableResult
    func putBlob(_ repository: String, _ bytes: [UInt8]) -> Digest {
        let digest = Digest.of(bytes)
        blobs[repository, default: [:]][digest] = bytes
        return digest
    }

    func holdBlobs(until gate: Gate?) { blobGate = gate }
    func setTagPages(_ repository: String, _ pages: [[String]]) { tagPages[repository] = pages }

    func putReferrers(_ repository: String, subject: Digest, document: String) {
        referrerDocuments[repository, default: [:]][subject] = Array(document.utf8)
    }

    private func begin(_ operation: Operation) throws {
        counts[operation, default: 0] += 1
        if let error = failures[operation] { throw error }
    }

    private func resolve(_ repository: String, _ reference: String) throws -> (Digest, Stored) {
        let digest: Digest? = reference.contains(":") ? try? Digest(parsing: reference) : tags[repository]?[reference]
        guard let digest, let stored = manifests[repository]?[digest] else { throw UpstreamError.notFound }
        return (digest, stored)
    }

    // MARK: UpstreamRegistry

    func manifestHead(_ target: UpstreamTarget, repository: String, reference: String) async throws -> UpstreamManifestHead {
        try begin(.manifestHead)
        let (digest, stored) = try resolve(repository, reference)
        return UpstreamManifestHead(digest: digest, mediaType: stored.mediaType, size: Int64(stored.bytes.count))
    }

    func manifest(_ target: UpstreamTarget, repository: String, reference: String, limit: Int) async throws -> UpstreamManifest {
        try begin(.manifest)
        let (digest, stored) = try resolve(repository, reference)
        let header = declared.keys.contains(digest) ? declared[digest]! : digest
        return UpstreamManifest(bytes: ByteBuffer(bytes: corrupted[digest] ?? stored.bytes), mediaType: stored.mediaType, digestHeader: header)
    }

    func blob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> UpstreamBlob {
        try begin(.blob)
        guard let bytes = blobs[repository]?[digest] else { throw UpstreamError.notFound }
        let body = blobGate.map { UpstreamBody(GatedBody(gate: $0, bytes: bytes)) } ?? .bytes([ByteBuffer(bytes: bytes)])
        return UpstreamBlob(length: Int64(bytes.count), body: body)
    }

    func blobSize(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> Int64? {
        try begin(.blobSize)
        return blobs[repository]?[digest].map { Int64($0.count) }
    }

    func tagPage(_ target: UpstreamTarget, repository: String, query: [UpstreamQueryItem]) async throws -> UpstreamTagPage {
        try begin(.tagPage)
        tagQueries.append(query)
        guard let pages = tagPages[repository] else { throw UpstreamError.notFound }
        let index = query.first { $0.name == "page" }.flatMap { Int($0.value) } ?? 0
        let next = index + 1 < pages.count ? [UpstreamQueryItem("n", "2"), UpstreamQueryItem("page", "\(index + 1)")] : nil
        return UpstreamTagPage(tags: pages[index], next: next)
    }

    func referrers(_ target: UpstreamTarget, repository: String, digest: Digest, artifactType: String?) async throws -> ByteBuffer? {
        try begin(.referrers)
        referrerArtifactTypes.append(artifactType)
        return referrerDocuments[repository]?[digest].map { ByteBuffer(bytes: $0) }
    }

    func ping(_ target: UpstreamTarget, repository: String) async throws {
        try begin(.ping)
    }
}

// MARK: - Fixture

/// Counts visibility changes so a test can wait for one without polling.
actor VisibilityChanges {
    private(set) var generation = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func bump() {
        generation += 1
        for waiter in waiters { waiter.resume() }
        waiters = []
    }

    func waitForChange(after seen: Int) async {
        if generation != seen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

/// The SQLite visibility index, telling a test when a blob becomes visible somewhere.
struct SignallingVisibility: BlobVisibilityIndex {
    let base: SQLMetadataStore
    let changes = VisibilityChanges()

    func isVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        try await base.isVisible(digest, in: visibility)
    }

    func makeVisible(_ digest: Digest, in visibility: BlobVisibility) async throws {
        try await base.makeVisible(digest, in: visibility)
        await changes.bump()
    }

    func renewVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        try await base.renewVisible(digest, in: visibility)
    }

    func hide(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        try await base.hide(digest, in: visibility)
    }

    func waitUntilVisible(_ digest: Digest, in visibility: BlobVisibility) async throws {
        while true {
            let seen = await changes.generation
            if try await base.isVisible(digest, in: visibility) { return }
            await changes.waitForChange(after: seen)
        }
    }
}

/// Real storage, a real blob cache and fill service, and a fake upstream.
struct ProxyFixture {
    let dir: String
    let store: SQLMetadataStore
    let blobs: FileBlobStore
    let upstream: FakeUpstream
    let visibility: SignallingVisibility
    let cache: ProxyCache
    let registry: RegistryRecord
    let service: Task<Void, any Error>

    static func make(policy: ProxyPolicy) async throws -> ProxyFixture {
        let dir = NSTemporaryDirectory() + "proxied-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: Logger(label: "test"))
        let blobs = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        let fills = FillService()
        let service = Task { try await fills.run() }
        let upstream = FakeUpstream()
        let visibility = SignallingVisibility(base: store)
        let cache = ProxyCache(index: store, visibility: visibility,
                               blobs: BlobCache(store: blobs, fills: fills, logger: Logger(label: "test")),
                               upstream: upstream, policy: policy, logger: Logger(label: "test"))
        let registry = RegistryRecord(name: "vendor", provider: "other", endpoint: "https://registry.vendor.example",
                                      host: "registry.vendor.example", username: nil, sealedSecret: nil, authType: "anonymous", appIDs: [])
        return ProxyFixture(dir: dir, store: store, blobs: blobs, upstream: upstream, visibility: visibility, cache: cache,
                            registry: registry, service: service)
    }

    func repository(_ name: String) -> ProxiedRepository {
        let target = UpstreamTarget(id: registry.id, name: registry.name, baseURL: registry.endpoint, login: .anonymous)
        return cache.repository(ResolvedUpstream(registry: registry, target: target, repository: name))
    }

    func here(_ repository: String) -> BlobVisibility { .upstream(registryID: registry.id, repository: repository) }

    func cachedTag(_ repository: String, _ tag: String) async throws -> CachedTag? {
        try await store.tag(registryID: registry.id, repository: repository, tag: tag)
    }

    /// Pretends the tag was last checked upstream `seconds` ago.
    func backdate(_ repository: String, _ tag: String, by seconds: TimeInterval) async throws {
        let cached = try #require(try await cachedTag(repository, tag))
        try await store.putTag(registryID: registry.id, repository: repository, tag: tag,
                               CachedTag(digest: cached.digest, checkedAt: Date().addingTimeInterval(-seconds)))
    }

    func close() async {
        service.cancel()
        try? await store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

func withProxyFixture(policy: ProxyPolicy = ProxyPolicy(tagTTL: 3600, staleLimit: 3600),
                      _ body: (ProxyFixture) async throws -> Void) async throws {
    let fixture = try await ProxyFixture.make(policy: policy)
    do {
        try await body(fixture)
    } catch {
        await fixture.close()
        throw error
    }
    await fixture.close()
}

/// An image manifest; `note` makes each one distinct.
func imageManifest(_ note: String) -> String {
    """
    {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
    "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(Digest.of(Array("{}".utf8)))","size":2},\
    "layers":[],"annotations":{"note":"\(note)"}}
    """
}

func contents(of content: BlobContent) async throws -> [UInt8] {
    var out: [UInt8] = []
    var offset: Int64 = 0
    switch content {
    case .arriving(let blob):
        while true {
            let chunk = try await blob.read(at: offset, maxCount: 64 * 1024)
            if chunk.readableBytes == 0 { return out }
            out += Array(chunk.readableBytesView)
            offset += Int64(chunk.readableBytes)
        }
    case .complete(let reader):
        while offset < reader.length {
            let chunk = try await reader.read(at: offset, maxCount: 64 * 1024)
            if chunk.readableBytes == 0 { break }
            out += Array(chunk.readableBytesView)
            offset += Int64(chunk.readableBytes)
        }
        return out
    }
}

extension UpstreamError {
    var isInvalidResponse: Bool {
        if case .invalidResponse = self { return true }
        return false
    }
}

extension BlobContent {
    var isArriving: Bool {
        if case .arriving = self { return true }
        return false
    }
}

// MARK: - Tests

@Suite(.timeLimit(.minutes(1))) struct ProxiedRepositoryTests {
    // MARK: Manifests by tag

    @Test func aTagIsFetchedOnceThenServedFromCacheWithinItsTTL() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let json = imageManifest("one")
            let digest = await f.upstream.putManifest("org/app", tag: "v1", json)
            let repo = f.repository("org/app")

            let first = try await repo.manifest(.tag("v1"), wantBody: true)
            #expect(first.record == ManifestRecord(digest: digest, mediaType: ManifestMediaType.ociManifest, size: Int64(json.utf8.count)))
            #expect(first.bytes == ByteBuffer(string: json) && !first.stale)
            #expect(await f.upstream.count(.manifest) == 1)
            #expect(try await f.cachedTag("org/app", "v1")?.digest == digest)
            #expect(try await f.store.manifest(digest) == first.record)
            #expect(try await f.blobs.size(of: digest) == Int64(json.utf8.count))

            for wantBody in [true, false, true] {
                let again = try await repo.manifest(.tag("v1"), wantBody: wantBody)
                #expect(again.record == first.record && !again.stale)
                #expect(again.bytes == (wantBody ? ByteBuffer(string: json) : nil))
            }
            // The same manifest by digest is known to belong here: no upstream request either.
            #expect(try await repo.manifest(.digest(digest), wantBody: true).bytes == ByteBuffer(string: json))
            #expect(await f.upstream.count(.manifest) == 1)
            #expect(await f.upstream.count(.manifestHead) == 0)

            // Tags are cached per upstream repository.
            await f.upstream.putManifest("org/other", tag: "v1", imageManifest("other"))
            _ = try await f.repository("org/other").manifest(.tag("v1"), wantBody: false)
            #expect(await f.upstream.count(.manifest) == 2)
        }
    }

    @Test func pastItsTTLATagIsRevalidatedWithAHeadAndAMovedTagIsFetched() async throws {
        try await withProxyFixture(policy: ProxyPolicy(tagTTL: 60, staleLimit: 3600)) { (f: ProxyFixture) async throws in
            let one = await f.upstream.putManifest("org/app", tag: "v1", imageManifest("one"))
            let repo = f.repository("org/app")
            _ = try await repo.manifest(.tag("v1"), wantBody: true)
            #expect(await f.upstream.count(.manifest) == 1)

            // Unchanged upstream: one HEAD, no GET, and the tag is trusted for another TTL.
            try await f.backdate("org/app", "v1", by: 120)
            let before = Date()
            let revalidated = try await repo.manifest(.tag("v1"), wantBody: true)
            #expect(revalidated.record.digest == one && !revalidated.stale)
            #expect(await f.upstream.count(.manifestHead) == 1)
            #expect(await f.upstream.count(.manifest) == 1)
            let checkedAt = try #require(try await f.cachedTag("org/app", "v1")?.checkedAt)
            #expect(checkedAt >= before.addingTimeInterval(-1), "the check is recorded")
            _ = try await repo.manifest(.tag("v1"), wantBody: true)
            #expect(await f.upstream.count(.manifestHead) == 1, "fresh again: no second HEAD")

            // The tag moved upstream: the HEAD shows another digest, which is fetched.
            let two = await f.upstream.putManifest("org/app", tag: "v1", imageManifest("two"))
            try await f.backdate("org/app", "v1", by: 120)
            let moved = try await repo.manifest(.tag("v1"), wantBody: true)
            #expect(moved.record.digest == two && moved.bytes == ByteBuffer(string: imageManifest("two")))
            #expect(await f.upstream.count(.manifestHead) == 2)
            #expect(await f.upstream.count(.manifest) == 2)
            #expect(try await f.cachedTag("org/app", "v1")?.digest == two)
        }
    }

    @Test(arguments: UpstreamErrorKinds.outages)
    func anOutagePastTheTTLServesTheCachedTagUntilTheStaleLimit(_ outage: UpstreamError) async throws {
        try await withProxyFixture(policy: ProxyPolicy(tagTTL: 60, staleLimit: 3600)) { (f: ProxyFixture) async throws in
            let json = imageManifest("one")
            let digest = await f.upstream.putManifest("org/app", tag: "v1", json)
            let repo = f.repository("org/app")
            _ = try await repo.manifest(.tag("v1"), wantBody: true)

            await f.upstream.fail(outage)
            try await f.backdate("org/app", "v1", by: 120)
            let stale = try await repo.manifest(.tag("v1"), wantBody: true)
            #expect(stale.stale && stale.record.digest == digest && stale.bytes == ByteBuffer(string: json))
            #expect(await f.upstream.count(.manifestHead) == 1, "the upstream was asked first")
            let staleHead = try await repo.manifest(.tag("v1"), wantBody: false)
            #expect(staleHead.stale && staleHead.bytes == nil)

            // Past TTL + stale limit the failure is the answer.
            try await f.backdate("org/app", "v1", by: 60 + 3600 + 60)
            let failure = await #expect(throws: ProxyFailure.self) { try await repo.manifest(.tag("v1"), wantBody: true) }
            #expect(failure?.upstream == outage)
            #expect(failure?.registry == outage.registryError(notFound: .manifestUnknown))

            // A tag never cached has nothing to fall back on.
            await #expect(throws: ProxyFailure.self) { try await repo.manifest(.tag("never"), wantBody: true) }

            // When the upstream recovers, the tag is fresh again.
            await f.upstream.fail(nil)
            #expect(try await repo.manifest(.tag("v1"), wantBody: true).stale == false)
        }
    }

    @Test(arguments: UpstreamErrorKinds.refusals)
    func aRefusalIsNeverServedStale(_ refusal: UpstreamError) async throws {
        try await withProxyFixture(policy: ProxyPolicy(tagTTL: 60, staleLimit: 3600)) { (f: ProxyFixture) async throws in
            await f.upstream.putManifest("org/app", tag: "v1", imageManifest("one"))
            let repo = f.repository("org/app")
            _ = try await repo.manifest(.tag("v1"), wantBody: true)
            await f.upstream.fail(refusal)
            try await f.backdate("org/app", "v1", by: 120)
            let failure = await #expect(throws: ProxyFailure.self) { try await repo.manifest(.tag("v1"), wantBody: true) }
            #expect(failure?.upstream == refusal)
            #expect(failure?.registry == refusal.registryError(notFound: .manifestUnknown))
            if refusal == .notFound {
                #expect(failure?.registry.code == .manifestUnknown && failure?.registry.status == 404)
            }
        }
    }

    // MARK: Manifests by digest

    @Test func aManifestByDigestIsVerifiedBeforeItIsCached() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let json = imageManifest("real")
            let digest = await f.upstream.putManifest("org/app", tag: nil, json)
            let forged = Array(imageManifest("forged").utf8)
            await f.upstream.corrupt(digest, with: forged)
            let repo = f.repository("org/app")

            let failure = await #expect(throws: ProxyFailure.self) { try await repo.manifest(.digest(digest), wantBody: true) }
            #expect(failure?.upstream.isInvalidResponse == true, "\(String(describing: failure))")
            #expect(failure?.registry.code == .unavailable && failure?.registry.status == 502)
            #expect(try await f.store.manifest(digest) == nil)
            #expect(try await f.store.manifest(Digest.of(forged)) == nil)
            #expect(try await f.blobs.size(of: digest) == nil)
            #expect(try await f.blobs.size(of: Digest.of(forged)) == nil)

            // Honest content is cached, and then served without asking again.
            await f.upstream.corrupt(digest, with: nil)
            #expect(try await repo.manifest(.digest(digest), wantBody: true).bytes == ByteBuffer(string: json))
            #expect(try await repo.manifest(.digest(digest), wantBody: true).bytes == ByteBuffer(string: json))
            #expect(await f.upstream.count(.manifest) == 2)
            #expect(try await f.store.manifest(digest)?.size == Int64(json.utf8.count))
        }
    }

    @Test func aTagWhoseContentDoesNotMatchTheDeclaredDigestIsRefused() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let digest = await f.upstream.putManifest("org/app", tag: "v1", imageManifest("one"))
            await f.upstream.declare(digest, as: Digest.of(Array("something else".utf8)))
            let failure = await #expect(throws: ProxyFailure.self) { try await f.repository("org/app").manifest(.tag("v1"), wantBody: true) }
            #expect(failure?.registry.status == 502)
            #expect(try await f.cachedTag("org/app", "v1") == nil)
            #expect(try await f.store.manifest(digest) == nil)
        }
    }

    @Test func aManifestCachedForAnotherRepositoryIsServedOnlyIfThisOneHasIt() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let json = imageManifest("shared")
            let digest = await f.upstream.putManifest("org/a", tag: nil, json)
            _ = try await f.repository("org/a").manifest(.digest(digest), wantBody: true)
            #expect(await f.upstream.count(.manifest) == 1)

            let failure = await #expect(throws: ProxyFailure.self) { try await f.repository("org/b").manifest(.digest(digest), wantBody: true) }
            #expect(failure?.registry.code == .manifestUnknown)

            await f.upstream.putManifest("org/b", tag: nil, json)
            let heads = await f.upstream.count(.manifestHead), gets = await f.upstream.count(.manifest)
            #expect(try await f.repository("org/b").manifest(.digest(digest), wantBody: true).bytes == ByteBuffer(string: json))
            #expect(await f.upstream.count(.manifestHead) == heads + 1, "confirmed with a HEAD")
            #expect(await f.upstream.count(.manifest) == gets, "but not downloaded again")
            _ = try await f.repository("org/b").manifest(.digest(digest), wantBody: true)
            #expect(await f.upstream.count(.manifestHead) == heads + 1, "and remembered")
        }
    }

    // MARK: Blobs

    @Test func concurrentMissesShareOneUpstreamGetAndTheNextRequestIsAHit() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let digest = await f.upstream.putBlob("org/app", bytes)
            let gate = Gate()
            await f.upstream.holdBlobs(until: gate)
            let repo = f.repository("org/app")

            let misses = try await withThrowingTaskGroup(of: BlobContent.self) { group in
                for _ in 0..<5 { group.addTask { try await repo.blob(digest) } }
                return try await group.reduce(into: [BlobContent]()) { $0.append($1) }
            }
            #expect(misses.count == 5 && misses.allSatisfy(\.isArriving), "no byte has arrived, so every request joins the fill")
            await gate.open()
            let read = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for content in misses { group.addTask { try await contents(of: content) } }
                return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
            }
            #expect(read.count == 5 && read.allSatisfy { $0 == bytes })
            #expect(await f.upstream.count(.blob) == 1)

            try await f.visibility.waitUntilVisible(digest, in: f.here("org/app"))
            let hit = try await repo.blob(digest)
            guard case .complete(let reader) = hit else { Issue.record("expected a cache hit"); return }
            #expect(reader.length == Int64(bytes.count))
            #expect(try await contents(of: hit) == bytes)
            #expect(try await repo.blobSize(digest) == Int64(bytes.count))
            #expect(await f.upstream.count(.blob) == 1)
            #expect(await f.upstream.count(.blobSize) == 0, "known to be here: no HEAD")
        }
    }

    @Test func aBlobCachedForAnotherRepositoryNeedsTheUpstreamToConfirmIt() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let bytes = Array("layer cached through org/a".utf8)
            let digest = Digest.of(bytes)
            try await f.blobs.put(ByteBuffer(bytes: bytes), as: digest)
            try await f.store.makeVisible(digest, in: f.here("org/a"))
            let b = f.repository("org/b")

            await #expect(throws: RegistryError(.blobUnknown, "blob unknown to registry")) { try await b.blob(digest) }
            await #expect(throws: RegistryError(.blobUnknown, "blob unknown to registry")) { try await b.blobSize(digest) }
            #expect(await f.upstream.count(.blobSize) == 2)
            #expect(await f.upstream.count(.blob) == 0)
            #expect(try await f.store.isVisible(digest, in: f.here("org/b")) == false)

            await f.upstream.putBlob("org/b", bytes)
            let content = try await b.blob(digest)
            guard case .complete = content else { Issue.record("the cached copy is served"); return }
            #expect(try await contents(of: content) == bytes)
            #expect(await f.upstream.count(.blobSize) == 3)
            #expect(await f.upstream.count(.blob) == 0, "never downloaded again")
            #expect(try await f.store.isVisible(digest, in: f.here("org/b")))
            _ = try await b.blob(digest)
            #expect(try await b.blobSize(digest) == Int64(bytes.count))
            #expect(await f.upstream.count(.blobSize) == 3, "confirmed once")

            // Visible in org/a from the start: no HEAD at all.
            _ = try await f.repository("org/a").blob(digest)
            #expect(await f.upstream.count(.blobSize) == 3)
        }
    }

    @Test func aBlobHeadForAnUncachedBlobAsksTheUpstreamAndStartsNoDownload() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let bytes = Array("not yet cached".utf8)
            let digest = await f.upstream.putBlob("org/app", bytes)
            #expect(try await f.repository("org/app").blobSize(digest) == Int64(bytes.count))
            #expect(await f.upstream.count(.blobSize) == 1)
            #expect(await f.upstream.count(.blob) == 0)
            #expect(try await f.blobs.size(of: digest) == nil)
            await #expect(throws: RegistryError(.blobUnknown, "blob unknown to registry")) {
                try await f.repository("org/app").blobSize(Digest.of(Array("absent".utf8)))
            }
        }
    }

    @Test func aFailedBlobFetchReachesTheReaderAsTheRegistryError() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let digest = await f.upstream.putBlob("org/app", Array("bytes".utf8))
            await f.upstream.fail(.rateLimited(retryAfter: 7), [.blob])
            let content = try await f.repository("org/app").blob(digest)
            let error = await #expect(throws: RegistryError.self) { try await contents(of: content) }
            #expect(error?.code == .tooManyRequests && error?.status == 429 && error?.retryAfter == 7)
            #expect(try await f.blobs.size(of: digest) == nil)

            await f.upstream.fail(nil)
            let missing = try await f.repository("org/app").blob(Digest.of(Array("nowhere".utf8)))
            let unknown = await #expect(throws: RegistryError.self) { try await contents(of: missing) }
            #expect(unknown?.code == .blobUnknown)
        }
    }

    // MARK: Errors

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var upstream: UpstreamError
        var code: RegistryErrorCode
        var status: Int
        var retryAfter: Int?
        var message: String?
        var testDescription: String { "\(upstream)" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(upstream: .rateLimited(retryAfter: 7), code: .tooManyRequests, status: 429, retryAfter: 7),
        ErrorCase(upstream: .rateLimited(retryAfter: nil), code: .tooManyRequests, status: 429, retryAfter: nil),
        ErrorCase(upstream: .authenticationFailed, code: .unavailable, status: 502,
                  message: "the upstream registry refused the vendor's registry credentials"),
        ErrorCase(upstream: .serverError(503), code: .unavailable, status: 503, message: "the upstream registry is unavailable"),
        ErrorCase(upstream: .serverError(500), code: .unavailable, status: 503),
        ErrorCase(upstream: .unreachable("connection refused"), code: .unavailable, status: 503),
        ErrorCase(upstream: .invalidResponse("garbage"), code: .unavailable, status: 502),
        ErrorCase(upstream: .unexpectedStatus(418), code: .unavailable, status: 502),
    ]

    @Test(arguments: errorCases)
    func upstreamFailuresBecomeTheRegistryErrorsClientsSee(_ c: ErrorCase) async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let subject = Digest.of(Array("subject".utf8))
            await f.upstream.fail(c.upstream)
            let repo = f.repository("org/app")
            let operations: [(String, @Sendable () async throws -> Void)] = [
                ("manifest by tag", { _ = try await repo.manifest(.tag("v1"), wantBody: true) }),
                ("manifest by digest", { _ = try await repo.manifest(.digest(subject), wantBody: false) }),
                ("blob HEAD", { _ = try await repo.blobSize(subject) }),
                ("tags", { _ = try await repo.tags() }),
                ("referrers", { _ = try await repo.referrers(subject, artifactType: nil) }),
            ]
            for (name, operation) in operations {
                let failure = await #expect(throws: ProxyFailure.self, "\(name)") { try await operation() }
                #expect(failure?.upstream == c.upstream, "\(name)")
                #expect(failure?.registry.code == c.code && failure?.registry.status == c.status, "\(name): \(String(describing: failure?.registry))")
                #expect(failure?.registry.retryAfter == c.retryAfter, "\(name)")
                if let message = c.message { #expect(failure?.registry.message == message, "\(name)") }
                #expect(failure?.registry.message.contains("secret") == false)
            }
        }
    }

    @Test func notFoundUpstreamNamesWhatIsUnknown() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let repo = f.repository("org/app")
            let digest = Digest.of(Array("x".utf8))
            let manifest = await #expect(throws: ProxyFailure.self) { try await repo.manifest(.tag("v1"), wantBody: true) }
            #expect(manifest?.registry == RegistryError(.manifestUnknown, "manifest unknown to registry"))
            let tags = await #expect(throws: ProxyFailure.self) { try await repo.tags() }
            #expect(tags?.registry == RegistryError(.nameUnknown, "repository unknown to registry"))
            await #expect(throws: RegistryError(.blobUnknown, "blob unknown to registry")) { try await repo.blobSize(digest) }
        }
    }

    // MARK: Listings

    @Test func tagsArePagedThroughUntilTheUpstreamHasNoNextPage() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            await f.upstream.setTagPages("org/app", [["a", "b"], ["c", "d"], ["e"]])
            #expect(try await f.repository("org/app").tags() == ["a", "b", "c", "d", "e"])
            #expect(await f.upstream.count(.tagPage) == 3)
            #expect(await f.upstream.tagQueries == [
                [],
                [UpstreamQueryItem("n", "2"), UpstreamQueryItem("page", "1")],
                [UpstreamQueryItem("n", "2"), UpstreamQueryItem("page", "2")],
            ])

            await f.upstream.setTagPages("org/one", [["only"]])
            #expect(try await f.repository("org/one").tags() == ["only"])
            #expect(await f.upstream.count(.tagPage) == 4)
        }
    }

    @Test func referrersAreFilteredHereAndAMissingAPIIsA404() async throws {
        try await withProxyFixture { (f: ProxyFixture) async throws in
            let subject = Digest.of(Array("subject".utf8))
            func entry(_ n: Int, _ type: String?) -> String {
                let artifactType = type.map { #","artifactType":"\#($0)""# } ?? ""
                let digest = Digest.of(Array("r\(n)".utf8))
                return #"{"mediaType":"\#(ManifestMediaType.ociManifest)","digest":"\#(digest)","size":\#(100 + n)\#(artifactType)}"#
            }
            let document = """
                {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociIndex)","manifests":[\
                \(entry(1, "application/vnd.example.sig")),\(entry(2, "application/vnd.example.sbom")),\
                \(entry(3, "application/vnd.example.sig")),\(entry(4, nil))]}
                """
            await f.upstream.putReferrers("org/app", subject: subject, document: document)
            let repo = f.repository("org/app")

            let all = try await repo.referrers(subject, artifactType: nil)
            #expect(all.entries.count == 4 && !all.filteredByArtifactType)
            // Filtered here even though this upstream ignores the filter.
            let signatures = try await repo.referrers(subject, artifactType: "application/vnd.example.sig")
            #expect(signatures.filteredByArtifactType)
            #expect(signatures.entries.map(\.digest) == [Digest.of(Array("r1".utf8)), Digest.of(Array("r3".utf8))])
            #expect(signatures.entries.map(\.size) == [101, 103])
            #expect(try await repo.referrers(subject, artifactType: "application/vnd.example.none").entries.isEmpty)
            #expect(await f.upstream.referrerArtifactTypes == [nil, "application/vnd.example.sig", "application/vnd.example.none"],
                    "the filter is passed on too")

            // 404 upstream (no referrers API): a 404 here too, so clients look for the fallback tag.
            for filter in [nil, "application/vnd.example.sig"] as [String?] {
                let missing = await #expect(throws: RegistryError.self) { try await f.repository("org/plain").referrers(subject, artifactType: filter) }
                #expect(missing?.status == 404 && missing?.message.contains("sha256-\(subject.hex)") == true)
            }

            await f.upstream.putReferrers("org/broken", subject: subject, document: "not json")
            let failure = await #expect(throws: ProxyFailure.self) { try await f.repository("org/broken").referrers(subject, artifactType: nil) }
            #expect(failure?.registry.status == 502)
        }
    }

    @Test func aDockerSchema1ManifestIsToldApartFromOtherJunk() {
        let signed = ByteBuffer(string: #"{"schemaVersion": 1, "name": "org/app", "tag": "v1", "fsLayers": []}"#)
        #expect(ProxiedRepository.isDockerSchema1(signed, contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws"))
        #expect(ProxiedRepository.isDockerSchema1(signed, contentType: "application/json"))
        #expect(ProxiedRepository.isDockerSchema1(ByteBuffer(string: "{}"), contentType: "application/vnd.docker.distribution.manifest.v1+json"))
        #expect(!ProxiedRepository.isDockerSchema1(ByteBuffer(string: "<html>"), contentType: "text/html"))
        #expect(!ProxiedRepository.isDockerSchema1(ByteBuffer(string: #"{"schemaVersion": 2}"#), contentType: nil))
    }
}
