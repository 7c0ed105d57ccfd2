import Charts
import Foundation
import Hosting
import Licensing
import Logging
import NIOCore
import OCI
import Proxy
import RegistryCore
import Storage
import Synchronization
import Testing
import Upstream
@testable import Access

// MARK: - The resolver over real storage

/// An upstream that must never be contacted while resolving names.
final class UnreachableUpstream: UpstreamRegistry {
    let calls = Atomic(0)

    private func called() throws -> Never {
        calls.add(1, ordering: .relaxed)
        throw UpstreamError.unreachable("the resolver must not contact the upstream")
    }

    func manifestHead(_ target: UpstreamTarget, repository: String, reference: String) async throws -> UpstreamManifestHead { try called() }
    func manifest(_ target: UpstreamTarget, repository: String, reference: String, limit: Int) async throws -> UpstreamManifest { try called() }
    func blob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> UpstreamBlob { try called() }
    func blobSize(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> Int64? { try called() }
    func tagPage(_ target: UpstreamTarget, repository: String, query: [UpstreamQueryItem]) async throws -> UpstreamTagPage { try called() }
    func referrers(_ target: UpstreamTarget, repository: String, digest: Digest, artifactType: String?) async throws -> ByteBuffer? {
        try called()
    }
    func ping(_ target: UpstreamTarget, repository: String) async throws { try called() }
}

struct ResolverFixture {
    let dir: String
    let store: SQLMetadataStore
    let blobs: FileBlobStore
    let secrets: SecretBox
    let upstream: UnreachableUpstream
    let resolver: RepositoryResolver
    let hosted: HostedRegistry
    let acme: AppRecord
    let globex: AppRecord
    let registry: RegistryRecord
    let customer: CustomerRecord

    static func make() async throws -> ResolverFixture {
        let dir = NSTemporaryDirectory() + "resolver-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let logger = Logger(label: "test")
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: logger)
        let blobs = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        let secrets = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        let upstream = UnreachableUpstream()

        let acme = AppRecord(slug: "acme", name: "Acme"), globex = AppRecord(slug: "globex", name: "Globex")
        try await store.createApp(acme)
        try await store.createApp(globex)
        let catalog = ReleaseCatalog(store: store, blobs: blobs)
        for app in [acme, globex] { try await catalog.createDefaultChannels(appID: app.id) }
        let chart = try Gzip.compress(Tar.write([
            TarEntry(path: "web/Chart.yaml", contents: Array("apiVersion: v2\nname: web\nversion: 1.0.0\n".utf8)),
            TarEntry(path: "web/values.yaml", contents: Array("replicas: 1\n".utf8)),
        ]))
        let sequence = try await catalog.createRelease(appID: acme.id, archives: [chart], version: "1.0.0", notes: nil, promoteTo: nil)
        try await catalog.promote(appID: acme.id, sequence: sequence, channel: "Stable", version: "1.0.0", notes: nil)

        let registry = RegistryRecord(name: "vendor", provider: "other", endpoint: "https://registry.vendor.example",
                                      host: "registry.vendor.example", username: nil, sealedSecret: nil, authType: "anonymous",
                                      appIDs: [acme.id])
        try await store.createRegistry(registry)

        let licenseID = "license-acme-0000000001"
        let customer = CustomerRecord(appID: acme.id, name: "Customer", email: "c@example.com", channel: "Stable", type: .paid,
                                      expiresAt: nil, licenseHash: SecretBox.lookupHash(licenseID), sealedLicense: try secrets.seal(licenseID))
        try await store.createCustomer(customer)

        let fills = FillService()
        let proxy = ProxyCache(index: store, visibility: store, blobs: BlobCache(store: blobs, fills: fills, logger: logger), upstream: upstream,
                               policy: ProxyPolicy(), logger: logger)
        let hosted = HostedRegistry(repositories: store, visibility: store, blobs: blobs)
        let resolver = RepositoryResolver(apps: store, customers: store, secrets: secrets,
                                          directory: UpstreamDirectory(store: store, secrets: secrets), proxy: proxy, hosted: hosted,
                                          catalog: catalog, delivery: ChartDelivery(blobs: blobs, index: store, visibility: store),
                                          domains: DomainDirectory(store: store), publicRepositories: store,
                                          licenseFields: LicenseFieldSigner(store: store, secrets: secrets), manifestLimit: 4 << 20)
        return ResolverFixture(dir: dir, store: store, blobs: blobs, secrets: secrets, upstream: upstream, resolver: resolver, hosted: hosted,
                               acme: acme, globex: globex, registry: registry, customer: customer)
    }

    var vendor: Caller { Caller(principal: .vendor(canPush: true), tokenAccess: nil) }
    var acmeCustomer: Caller { Caller(principal: .customer(customer.license(appSlug: "acme")), tokenAccess: nil) }
    var globexCustomer: Caller {
        Caller(principal: .customer(License(customerID: "someone", appID: globex.id, appSlug: "globex", customerName: "G", customerEmail: nil,
                                            channel: "Stable", type: .paid, expiresAt: nil, archived: false, helmInstall: true)),
               tokenAccess: nil)
    }

    func resolve(_ name: String, _ actions: [RegistryAction], as caller: Caller, mountFrom: String? = nil,
                 onDomainOf domainApp: String? = nil) async throws -> ResolvedRepository {
        let request = AccessRequest(name: try RepositoryName(parsing: name), actions: actions,
                                    mountSource: try mountFrom.map { try RepositoryName(parsing: $0) })
        return try await resolver.resolve(request, caller: caller, address: RequestAddress(host: "registry.example.com", domainApp: domainApp))
    }

    func close() async {
        try? await store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

func withResolver(_ body: (ResolverFixture) async throws -> Void) async throws {
    let fixture = try await ResolverFixture.make()
    do {
        try await body(fixture)
    } catch {
        await fixture.close()
        throw error
    }
    await fixture.close()
}

@Suite struct RepositoryResolverTests {
    @Test func onAnAppsCustomDomainOnlyItsRepositoriesExist() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            #expect(try await f.resolve("acme/api", [.pull], as: f.vendor, onDomainOf: "acme").appSlug == "acme")
            for name in ["globex/api", "proxy/globex/vendor/org/app"] {
                let refusal = await #expect(throws: RegistryError.self) { _ = try await f.resolve(name, [.pull], as: f.vendor, onDomainOf: "acme") }
                #expect(refusal?.code == .nameUnknown, "\(name)")
            }
            // The same names on the default host are the other app's to serve.
            #expect(try await f.resolve("globex/api", [.pull], as: f.vendor).appSlug == "globex")
        }
    }

    @Test func aVendorRepositoryIsHostedAndWritable() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            let resolved = try await f.resolve("acme/api", [.pull, .push], as: f.vendor)
            #expect(resolved.kind == .hosted && resolved.appSlug == "acme")
            let writer = try #require(resolved.writer)
            #expect((writer as? HostedRepository)?.name.description == "acme/api")
            // Customers may read it, but get no writer-only rights from it.
            let read = try await f.resolve("acme/api", [.pull], as: f.acmeCustomer)
            #expect(read.kind == .hosted)
        }
    }

    @Test func aReleasedChartIsAChartRepositoryWithoutAWriter() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            for name in ["acme/web", "acme/stable/web"] {
                for caller in [f.vendor, f.acmeCustomer] {
                    let resolved = try await f.resolve(name, [.pull], as: caller)
                    #expect(resolved.kind == .chart(channelName: "Stable", channelSlug: "stable"), "\(name)")
                    #expect(resolved.writer == nil && resolved.appSlug == "acme")
                    #expect(try await resolved.reader.tags() == ["1.0.0"])
                }
            }
            // Released but not promoted to Beta: a chart repository with no versions, which a
            // Stable customer may not see at all.
            let beta = try await f.resolve("acme/beta/web", [.pull], as: f.vendor)
            #expect(beta.kind == .chart(channelName: "Beta", channelSlug: "beta"))
            #expect(try await beta.reader.tags().isEmpty)
            await #expect(throws: AccessRefusal.denied("license is for the Stable channel")) {
                try await f.resolve("acme/beta/web", [.pull], as: f.acmeCustomer)
            }
            // Pushing to a chart is not a thing.
            let refused = await #expect(throws: RegistryError.self) { try await f.resolve("acme/web", [.pull, .push], as: f.vendor) }
            #expect(refused?.code == .unsupported)
        }
    }

    @Test func aProxyPathResolvesToTheRegisteredUpstream() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            let resolved = try await f.resolve("proxy/acme/vendor/org/x", [.pull], as: f.acmeCustomer)
            #expect(resolved.kind == .proxied && resolved.writer == nil && resolved.appSlug == "acme")
            let proxied = try #require(resolved.reader as? ProxiedRepository)
            #expect(proxied.upstream.registry.id == f.registry.id)
            #expect(proxied.upstream.repository == "org/x")
            #expect(proxied.upstream.target.baseURL == "https://registry.vendor.example")
            // By host too.
            let byHost = try await f.resolve("proxy/acme/registry.vendor.example/org/x", [.pull], as: f.vendor)
            #expect((byHost.reader as? ProxiedRepository)?.upstream.registry.id == f.registry.id)
            #expect(f.upstream.calls.load(ordering: .relaxed) == 0, "resolving never contacts the upstream")
        }
    }

    @Test func namesThatResolveToNothingAreUnknown() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            for name in ["nope/api", "proxy/nope/vendor/org/x",
                         // Not a registry of acme's: never becomes an outbound request.
                         "proxy/acme/unregistered/org/x", "proxy/acme/other.example/org/x",
                         // The registry is scoped to acme.
                         "proxy/globex/vendor/org/x"] {
                let error = await #expect(throws: RegistryError.self, "\(name)") { try await f.resolve(name, [.pull], as: f.vendor) }
                #expect(error?.code == .nameUnknown, "\(name)")
            }
            // Another app's registry name reads as any name no registry has: nothing is learnt of it.
            let theirs = await #expect(throws: RegistryError.self) { try await f.resolve("proxy/globex/vendor/org/x", [.pull], as: f.vendor) }
            let nobodys = await #expect(throws: RegistryError.self) { try await f.resolve("proxy/globex/zzz/org/x", [.pull], as: f.vendor) }
            #expect(theirs?.message.replacingOccurrences(of: "vendor", with: "zzz") == nobodys?.message && nobodys != nil)
            #expect(f.upstream.calls.load(ordering: .relaxed) == 0)
        }
    }

    @Test func aVendorCannotPushToAProxiedRepository() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            let error = await #expect(throws: RegistryError.self) { try await f.resolve("proxy/acme/vendor/org/x", [.pull, .push], as: f.vendor) }
            #expect(error?.code == .unsupported && error?.status == 405)
        }
    }

    @Test func customersOfAnotherAppAreDeniedBeforeAnythingIsLookedUp() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            for name in ["acme/api", "acme/web", "proxy/acme/vendor/org/x", "acme/does-not-exist"] {
                await #expect(throws: AccessRefusal.denied("license does not grant access to this repository"), "\(name)") {
                    try await f.resolve(name, [.pull], as: f.globexCustomer)
                }
            }
            await #expect(throws: AccessRefusal.denied("licenses can only pull")) {
                try await f.resolve("acme/api", [.pull, .push], as: f.acmeCustomer)
            }
        }
    }

    @Test func refusedCallersLearnNothingAboutWhetherANameExists() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            var expired = f.customer
            expired.expiresAt = Date().addingTimeInterval(-60)
            let caller = Caller(principal: .customer(expired.license(appSlug: "acme")), tokenAccess: nil)
            for name in ["acme/api", "nope/api"] {
                await #expect(throws: AccessRefusal.unauthorized("license has expired"), "\(name)") {
                    try await f.resolve(name, [.pull], as: caller)
                }
            }
            let scoped = Caller(principal: .vendor(canPush: true), tokenAccess: [TokenAccess(name: "acme/api", actions: ["pull"])])
            for name in ["acme/other", "nope/api"] {
                await #expect(throws: AccessRefusal.unauthorized("token does not cover this repository"), "\(name)") {
                    try await f.resolve(name, [.pull], as: scoped)
                }
            }
        }
    }

    @Test func aMountSourceInAnotherAppIsRefused() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            // The mount source is checked for pull like any repository: a customer of acme may
            // not name a globex repository even as a source.
            await #expect(throws: AccessRefusal.denied("license does not grant access to this repository")) {
                try await f.resolve("acme/api", [.pull], as: f.acmeCustomer, mountFrom: "globex/api")
            }
            // A token must cover the source as well.
            let scoped = Caller(principal: .vendor(canPush: true), tokenAccess: [TokenAccess(name: "acme/api", actions: ["pull", "push"])])
            await #expect(throws: AccessRefusal.unauthorized("token does not cover this repository")) {
                try await f.resolve("acme/api", [.pull, .push], as: scoped, mountFrom: "globex/api")
            }
            // Vendors may read every app, so the request resolves; the mount itself never crosses apps.
            let bytes = Array("globex layer".utf8)
            let digest = Digest.of(bytes)
            try await f.blobs.put(ByteBuffer(bytes: bytes), as: digest)
            try await f.store.makeVisible(digest, in: .hosted(repository: "globex/api"))
            try await f.store.makeVisible(digest, in: .hosted(repository: "acme/base"))
            let writer = try #require(try await f.resolve("acme/api", [.pull, .push], as: f.vendor, mountFrom: "globex/api").writer)
            #expect(try await writer.mount(digest, from: try RepositoryName(parsing: "globex/api")) == false)
            #expect(try await f.store.isVisible(digest, in: .hosted(repository: "acme/api")) == false)
            #expect(try await writer.mount(digest, from: try RepositoryName(parsing: "acme/base")))
            #expect(try await f.store.isVisible(digest, in: .hosted(repository: "acme/api")))
        }
    }

    @Test func admitFollowsTheLoginRule() async throws {
        try await withResolver { (f: ResolverFixture) async throws in
            try f.resolver.admit(f.acmeCustomer.principal)
            try f.resolver.admit(.vendor(canPush: false))
            var archived = f.customer
            archived.archived = true
            #expect(throws: AccessRefusal.unauthorized("license is no longer active")) {
                try f.resolver.admit(.customer(archived.license(appSlug: "acme")))
            }
        }
    }
}
