import Foundation
import Storage
import Testing
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
