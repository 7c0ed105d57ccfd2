import Foundation
import PortcullisAPI
import Testing

@Suite struct EndpointTests {
    @Test func parametersAreFilledInOrderAndEncoded() {
        #expect(API.removeLicenseField.path("my app", "seats/total") == "/apps/my%20app/license-fields/seats%2Ftotal")
        #expect(API.customers.path(query: [("app", "a&b=c")]) == "/customers?app=a%26b%3Dc")
        #expect(API.customers.path(query: [("app", nil)]) == "/customers")
        #expect(API.mirrorConfig.path("c1", query: [("upstream", "x"), ("upstream", "y"), ("ca", nil)])
                == "/customers/c1/mirror-config?upstream=x&upstream=y")
        #expect(API.promote.parameterNames == ["app", "sequence"])
    }

    @Test func everyMethodAndPathIsDeclaredOnce() {
        let keys = API.all.map { "\($0.method.rawValue) \($0.path)" }
        #expect(Set(keys).count == keys.count, "duplicates: \(keys.filter { k in keys.filter { $0 == k }.count > 1 })")
        for endpoint in API.all {
            #expect(endpoint.path.hasPrefix("/"), "\(endpoint.path)")
            #expect((200..<300).contains(endpoint.status), "\(endpoint.path)")
            #expect(!endpoint.summary.isEmpty, "\(endpoint.path)")
        }
    }

    /// The README's API table is written by hand (it shows bodies), so it is checked against the
    /// table: every endpoint is documented with its method and path.
    @Test func theReadmeDocumentsEveryEndpoint() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "Admin API under `/api/v1`"))
        let table = readme[section.upperBound...].prefix { _ in true }.split(separator: "\n## ").first.map(String.init) ?? ""
        for endpoint in API.all {
            let documented = endpoint.method.rawValue + " " + endpoint.path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            let found = ["`", "?", "["].contains { table.contains("`" + documented + $0) }
            #expect(found, "README's API table lacks `\(documented)`")
        }
    }
}
