import Foundation
import Licensing
import Logging
import NIOCore
import OCI
import Testing
@testable import Storage

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "portcullis-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func withStore<T>(_ body: (SQLMetadataStore) async throws -> T) async throws -> T {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try await SQLMetadataStore.openSQLite(path: dir + "/m.sqlite", logger: Logger(label: "test"))
    do {
        let result = try await body(store)
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}

@Suite struct MetadataStoreTests {
    @Test func appsAreUniqueBySlug() async throws {
        try await withStore { store in
            try await store.createApp(AppRecord(slug: "acme", name: "Acme"))
            await #expect(throws: StoreError.self) { try await store.createApp(AppRecord(slug: "acme", name: "Again")) }
            #expect(try await store.apps().map(\.slug) == ["acme"])
            #expect(try await store.app(slug: "acme")?.name == "Acme")
            #expect(try await store.app(slug: "nope") == nil)
        }
    }

    @Test func registriesKeepTheirAppScope() async throws {
        try await withStore { store in
            let a = AppRecord(slug: "a", name: "A"), b = AppRecord(slug: "b", name: "B")
            try await store.createApp(a)
            try await store.createApp(b)
            try await store.createRegistry(RegistryRecord(name: "scoped", provider: "other", endpoint: "https://r.example", host: "r.example",
                                                          username: "u", sealedSecret: "sealed", authType: "password", appIDs: [a.id]))
            try await store.createRegistry(RegistryRecord(name: "open", provider: "quay", endpoint: "https://quay.io", host: "quay.io",
                                                          username: nil, sealedSecret: nil, authType: "anonymous", appIDs: []))
            let scoped = try #require(try await store.registry(name: "scoped"))
            #expect(scoped.appIDs == [a.id])
            #expect(try await store.registry(name: "open")?.appIDs == [])
            #expect(try await store.registries().map(\.name) == ["open", "scoped"])
            #expect(try await store.deleteRegistry(name: "scoped"))
            #expect(try await store.deleteRegistry(name: "scoped") == false)
        }
    }

    @Test func instancesAreCountedAndTheLongestSilentFound() async throws {
        try await withStore { store in
            let app = AppRecord(slug: "acme", name: "Acme")
            try await store.createApp(app)
            let customer = CustomerRecord(appID: app.id, name: "C", email: nil, channel: "Stable", type: .trial, expiresAt: nil,
                                          licenseHash: SecretBox.lookupHash("lic-1"), sealedLicense: "s")
            try await store.createCustomer(customer)
            #expect(try await store.instanceCensus(customerID: customer.id, instanceID: "i-1") == (0, false))
            #expect(try await store.longestSilentInstance(customerID: customer.id) == nil)
            for (n, ago) in [(1, 50.0), (2, 500.0), (3, 5.0)] {
                let at = Date().addingTimeInterval(-ago)
                _ = try await store.recordCheckIn(InstanceRecord(customerID: customer.id, instanceID: "i-\(n)", appID: app.id,
                                                                 firstSeenAt: at, lastCheckinAt: at))
            }
            #expect(try await store.instanceCensus(customerID: customer.id, instanceID: "i-1") == (3, true))
            #expect(try await store.instanceCensus(customerID: customer.id, instanceID: "i-9") == (3, false))
            #expect(try await store.longestSilentInstance(customerID: customer.id)?.instanceID == "i-2")
            try await store.forgetInstance(customerID: customer.id, instanceID: "i-2")
            #expect(try await store.instanceCensus(customerID: customer.id, instanceID: "i-2") == (2, false))
        }
    }

    @Test func customersAreFoundByLicenseHashAndUpdated() async throws {
        try await withStore { store in
            let app = AppRecord(slug: "acme", name: "Acme")
            try await store.createApp(app)
            let expiry = Date(timeIntervalSince1970: 1_900_000_000)
            var customer = CustomerRecord(appID: app.id, name: "C", email: "c@x", channel: "Beta", type: .trial, expiresAt: expiry,
                                          licenseHash: SecretBox.lookupHash("lic-1"), sealedLicense: "s")
            try await store.createCustomer(customer)
            let found = try #require(try await store.customer(licenseHash: SecretBox.lookupHash("lic-1")))
            #expect(found.id == customer.id && found.type == .trial && found.channel == "Beta" && found.expiresAt == expiry)
            #expect(try await store.customer(licenseHash: SecretBox.lookupHash("lic-2")) == nil)
            customer.archived = true
            customer.expiresAt = nil
            try await store.updateCustomer(customer)
            let updated = try #require(try await store.customer(id: customer.id))
            #expect(updated.archived && updated.expiresAt == nil)
            #expect(try await store.customers(appID: app.id).count == 1)
        }
    }

    @Test func proxyIndexUpsertsTagsAndLinks() async throws {
        try await withStore { store in
            let d1 = Digest.of(Array("one".utf8)), d2 = Digest.of(Array("two".utf8))
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.putTag(registryID: "r", repository: "org/app", tag: "v1", CachedTag(digest: d1, checkedAt: t0))
            try await store.putTag(registryID: "r", repository: "org/app", tag: "v1", CachedTag(digest: d2, checkedAt: t0.addingTimeInterval(5)))
            #expect(try await store.tag(registryID: "r", repository: "org/app", tag: "v1") == CachedTag(digest: d2, checkedAt: t0.addingTimeInterval(5)))
            #expect(try await store.tag(registryID: "other", repository: "org/app", tag: "v1") == nil)
            try await store.putManifest(ManifestRecord(digest: d1, mediaType: "m", size: 3))
            try await store.putManifest(ManifestRecord(digest: d1, mediaType: "m", size: 3))
            #expect(try await store.manifest(d1)?.size == 3)
            let here = BlobVisibility.upstream(registryID: "r", repository: "org/app")
            #expect(try await store.isVisible(d1, in: here) == false)
            try await store.makeVisible(d1, in: here)
            try await store.makeVisible(d1, in: here)
            #expect(try await store.isVisible(d1, in: here))
            #expect(try await store.isVisible(d1, in: .upstream(registryID: "r", repository: "org/other")) == false)
            #expect(try await store.isVisible(d1, in: .hosted(repository: "org/app")) == false)
            #expect(try await store.hide(d1, in: here))
            #expect(try await store.isVisible(d1, in: here) == false)
            #expect(try await store.hide(d1, in: here) == false)
        }
    }

    @Test func pullLogNewestFirst() async throws {
        try await withStore { store in
            let t = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.record([
                PullRecord(at: t, customerID: "c", appSlug: "a", repository: "r", reference: "v1", action: "manifest", status: 200, bytes: 10, reason: nil),
                PullRecord(at: t.addingTimeInterval(1), customerID: "c", appSlug: "a", repository: "r", reference: "v2", action: "manifest",
                           status: 403, bytes: 0, reason: "license has expired"),
                PullRecord(at: t, customerID: "other", appSlug: "a", repository: "r", reference: "v1", action: "blob", status: 200, bytes: 1, reason: nil),
            ])
            let pulls = try await store.pulls(customerID: "c", limit: 10)
            #expect(pulls.map(\.reference) == ["v2", "v1"])
            #expect(pulls.first?.reason == "license has expired")
        }
    }

    @Test func dailyCountsOutliveRawRecordsAndKeepUnattributedTrafficApart() async throws {
        try await withStore { store in
            let day = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 86_400))
            func pull(_ hours: Double, _ customer: String?, status: Int = 200, bytes: Int64 = 100, reason: String? = nil) -> PullRecord {
                PullRecord(at: day.addingTimeInterval(hours * 3600), customerID: customer, appSlug: "a", repository: "proxy/a/quay/api",
                           reference: "v1", action: "blob", status: status, bytes: bytes, reason: reason)
            }
            try await store.record([pull(1, "c"), pull(2, "c"), pull(3, "c", status: 403, reason: "license has expired"), pull(4, nil)])
            try await store.record([pull(5, "c"), pull(30, "c", bytes: 7)]) // a second batch adds to the same day; one the next day
            let counts = try await store.pullCounts(customerID: nil, since: day)
            let served = counts.first { $0.customerID == "c" && $0.reason == nil && $0.day == day }
            #expect(served?.requests == 3 && served?.bytes == 300 && served?.lastAt == day.addingTimeInterval(5 * 3600))
            let refused = counts.first { $0.reason == "license has expired" }
            #expect(refused?.requests == 1 && refused?.refused == 1 && refused?.bytes == 0)
            #expect(counts.first { $0.customerID == nil }?.requests == 1, "the vendor's and anonymous pulls are counted apart")
            #expect(counts.first { $0.day == day.addingTimeInterval(86_400) }?.bytes == 7)
            #expect(try await store.pullCounts(customerID: "c", since: day).allSatisfy { $0.customerID == "c" })

            #expect(try await store.deletePulls(before: day.addingTimeInterval(24 * 3600)) == 5)
            #expect(try await store.pulls(customerID: "c", limit: 10).count == 1)
            #expect(try await store.pullCounts(customerID: nil, since: day) == counts, "counts stay when raw records go")
        }
    }

    /// A batch is written in multi-row statements: in one larger than a statement, every pull is
    /// kept and counted once, pulls of one day spread over several statements included.
    @Test func aBatchLargerThanOneStatementCountsEveryPullOnce() async throws {
        try await withStore { store in
            let t = Date(timeIntervalSince1970: 1_800_000_000)
            let pulls = (0..<(SQLMetadataStore.rowsPerStatement * 2 + 7)).map { i in
                PullRecord(at: t.addingTimeInterval(Double(i)), customerID: i % 2 == 0 ? "even" : "odd", appSlug: "a", repository: "r",
                           reference: "v\(i)", action: "blob", status: 200, bytes: 1, reason: nil)
            }
            try await store.record(pulls)
            #expect(try await store.pulls(customerID: "even", limit: 1000).count == SQLMetadataStore.rowsPerStatement + 4)
            #expect(try await store.pulls(customerID: "odd", limit: 1000).count == SQLMetadataStore.rowsPerStatement + 3)
            let counts = try await store.pullCounts(customerID: nil, since: t.addingTimeInterval(-86_400))
            #expect(counts.map(\.requests).reduce(0, +) == pulls.count)
            #expect(Set(counts.map(\.customerID)) == ["even", "odd"])
        }
    }
}

@Suite struct FileBlobStoreTests {
    @Test func commitPublishesAndDiscardLeavesNothing() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        let bytes = Array("hello blob".utf8)
        let digest = Digest.of(bytes)
        let spool = try store.makeSpoolFile()
        try await spool.write(ByteBuffer(bytes: bytes), at: 0)
        #expect(try await store.size(of: digest) == nil)
        try await store.commit(spool, as: digest)
        #expect(try await store.size(of: digest) == Int64(bytes.count))
        let reader = try #require(try await store.open(digest))
        #expect(Array(try await reader.read(at: 6, maxCount: 100).readableBytesView) == Array("blob".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/spool").isEmpty)

        let abandoned = try store.makeSpoolFile()
        try await abandoned.write(ByteBuffer(bytes: [1, 2, 3]), at: 0)
        store.discard(abandoned)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/spool").isEmpty)
    }

    @Test func leftoverSpoolFilesAreRemovedAtStart() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        FileManager.default.createFile(atPath: dir + "/spool/crashed.part", contents: Data([1, 2, 3]))
        _ = try FileBlobStore(root: dir + "/blobs", spoolRoot: dir + "/spool")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/spool").isEmpty)
    }
}

@Suite struct SecretBoxTests {
    @Test func sealsAndDetectsTampering() throws {
        let box = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        let sealed = try box.seal("hunter2")
        #expect(!sealed.contains("hunter2"))
        #expect(try box.open(sealed) == "hunter2")
        #expect(try box.seal("hunter2") != sealed, "nonces must differ")
        var bytes = try #require(Base64.decode(sealed))
        bytes[bytes.count - 1] ^= 1
        #expect(throws: SecretBoxError.self) { try box.open(Base64.encode(bytes)) }
        let other = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        #expect(throws: SecretBoxError.self) { try other.open(sealed) }
        #expect(throws: SecretBoxError.self) { try SecretBox(keyBytes: [1, 2, 3]) }
    }
}

@Suite struct DataDirectoryTests {
    @Test func secretFilesArePrivateAndStable() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = DataDirectory(root: dir + "/data")
        try data.prepare()
        let token = try data.adminToken()
        #expect(try data.adminToken() == token)
        #expect(try data.secretKey().count == 32)
        let mode = try FileManager.default.attributesOfItem(atPath: data.adminTokenPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

@Suite struct DataDirectoryLockAndRefusalTests {
    @Test func aSecondServerOnTheDirectoryIsRefusedWithThePid() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = DataDirectory(root: dir)
        var held: DataDirectoryLock? = try data.lockForServing()
        // flock is per open file description: a second open in this process conflicts as another process's would.
        #expect(throws: DataDirectoryError("the data directory \(dir) is in use by another portcullis serve (pid \(getpid())); "
                                           + "give each server its own --data-dir")) { try data.lockForServing() }
        withExtendedLifetime(held) {}
        held = nil
        _ = try data.lockForServing()
    }

    @Test func aShortAdminTokenOrABrokenKeyIsNamedNotUsed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = DataDirectory(root: dir)
        try data.writePrivate(data.adminTokenPath, "short\n")
        #expect(throws: DataDirectoryError.self) { try data.adminToken() }
        try data.writePrivate(data.secretKeyPath, "garbage\n")
        let refusal = #expect(throws: DataDirectoryError.self) { try data.secretKey() }
        #expect(refusal?.description.hasPrefix(data.secretKeyPath) == true)
    }

    @Test func aDataDirectoryThatIsAFileIsSaidSo() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        #expect(throws: DataDirectoryError("\(dir)/file is a file, not a directory (--data-dir)")) { try DataDirectory(root: dir + "/file").prepare() }
    }
}

@Suite struct ResourceShortageTests {
    @Test func fullDisksReadOnlyFilesystemsAndDescriptorsAreTold() throws {
        #expect(ResourceShortage(BlobFileError.errno(ENOSPC, "write")) == .diskFull)
        #expect(ResourceShortage(BlobFileError.errno(EDQUOT, "write")) == .diskFull)
        #expect(ResourceShortage(IOError(errnoCode: EROFS, reason: "open")) == .readOnly)
        #expect(ResourceShortage(IOError(errnoCode: EMFILE, reason: "accept")) == .outOfDescriptors)
        #expect(ResourceShortage(NSError(domain: NSPOSIXErrorDomain, code: Int(ENFILE))) == .outOfDescriptors)
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 642, userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        #expect(ResourceShortage(wrapped) == .diskFull)
        #expect(ResourceShortage(BlobFileError.errno(ENOENT, "open")) == nil, "a missing file is no shortage")
        #expect(ResourceShortage(CancellationError()) == nil)
    }
}
