import Foundation
import Logging
import Storage
import Testing
import Upstream
@testable import Proxy

@Suite struct UpstreamCredentialsKeyTests {
    let base = RegistryRecord(id: "reg-1", name: "vendor", provider: "other", endpoint: "https://reg.example", host: "reg.example",
                              username: "robot", sealedSecret: "sealed-a", authType: "password", appIDs: ["app"])

    /// Tokens are cached under this key: any change to how logins are made gives a new one, so
    /// no replica sends a token got with credentials the vendor has replaced.
    @Test func anyChangeToTheCredentialsChangesTheKeyAndNothingElseDoes() {
        let key = UpstreamDirectory.credentialsKey(base)
        #expect(UpstreamDirectory.credentialsKey(base) == key)
        var changes: [RegistryRecord] = []
        var r = base; r.sealedSecret = "sealed-b"; changes.append(r)
        r = base; r.username = "other-robot"; changes.append(r)
        r = base; r.endpoint = "https://mirror.example"; changes.append(r)
        r = base; r.region = "eu-west-1"; changes.append(r)
        r = base; r.authType = "accessKey"; changes.append(r)
        r = base; r.sealedSecret = nil; changes.append(r)
        let keys = Set(changes.map(UpstreamDirectory.credentialsKey))
        #expect(keys.count == changes.count && !keys.contains(key))
        // Unrelated settings keep the tokens.
        r = base; r.allowedRepositories = ["org/*"]; r.anonymousPull = true; r.appIDs = ["app", "other"]
        #expect(UpstreamDirectory.credentialsKey(r) == key)
        // The key shows nothing of the secret (a hash of its sealed form, shortened).
        #expect(key.count == 16 && !key.contains("sealed"))
    }
}

@Suite struct UpstreamDirectoryTargetTests {
    /// Targets are kept per registry and reused while its record is unchanged: a changed
    /// secret (or anything else) is never answered with the target made from the old record.
    @Test func aChangedRecordGetsANewTargetAndAnUnchangedOneTheSame() async throws {
        let dir = NSTemporaryDirectory() + "directory-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLMetadataStore.openSQLite(path: dir + "/metadata.sqlite", logger: Logger(label: "test"))
        let secrets = try SecretBox(keyBytes: SecretBox.generateKeyBytes())
        let directory = UpstreamDirectory(store: store, secrets: secrets)
        var record = RegistryRecord(id: "reg-1", name: "vendor", provider: "other", endpoint: "https://reg.example", host: "reg.example",
                                    username: "robot", sealedSecret: try secrets.seal("first"), authType: "password", appIDs: ["app"])
        func password(_ target: UpstreamTarget) -> String? {
            if case .basic(let credentials) = target.login { return credentials.password }
            return nil
        }
        let first = try directory.target(for: record)
        #expect(password(first) == "first")
        #expect(try directory.target(for: record).tokenKey == first.tokenKey)
        record.sealedSecret = try secrets.seal("second")
        let second = try directory.target(for: record)
        #expect(password(second) == "second" && second.tokenKey != first.tokenKey)
        record.tokenRealms = ["auth.example"]
        #expect(try directory.target(for: record).tokenRealmHosts.contains("auth.example"))
        try? await store.close()
    }
}
