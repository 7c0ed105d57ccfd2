import Testing
@testable import Upstream

@Suite struct RegistryEndpointTests {
    @Test func parsesEndpoints() throws {
        let quay = try RegistryEndpoint(parsing: "quay.io")
        #expect(quay.baseURL == "https://quay.io" && quay.canonicalHost == "quay.io")
        let local = try RegistryEndpoint(parsing: "http://127.0.0.1:5000/")
        #expect(local.baseURL == "http://127.0.0.1:5000" && local.canonicalHost == "127.0.0.1:5000")
        let v2 = try RegistryEndpoint(parsing: "https://Registry.Example.com/v2/")
        #expect(v2.baseURL == "https://registry.example.com")
    }

    @Test func dockerHubAnswersAtItsAPIHost() throws {
        for spelling in ["index.docker.io", "docker.io", "registry-1.docker.io"] {
            let e = try RegistryEndpoint(parsing: spelling)
            #expect(e.baseURL == "https://registry-1.docker.io")
            #expect(e.canonicalHost == "docker.io")
        }
    }

    @Test(arguments: ["", "ftp://x", "https://a/b", "user@host", "host?x=1", "http://"])
    func rejectsOddEndpoints(_ text: String) {
        #expect(throws: UpstreamConfigError.self) { try RegistryEndpoint(parsing: text) }
    }

    @Test func outagesAreTheRetryableFailures() {
        #expect(UpstreamError.from(status: 503).isOutage)
        #expect(UpstreamError.from(status: 429).isOutage)
        #expect(UpstreamError.unreachable("x").isOutage)
        #expect(!UpstreamError.from(status: 404).isOutage)
        #expect(!UpstreamError.from(status: 401).isOutage)
        #expect(UpstreamError.from(status: 403) == .authenticationFailed)
    }

    @Test func formEncodingEscapesScopes() {
        #expect(FormEncoding.encode([("scope", "repository:a/b:pull"), ("service", "r e")])
                == "scope=repository%3Aa%2Fb%3Apull&service=r%20e")
    }

    @Test func tokenCacheExpires() async {
        let cache = UpstreamTokenCache()
        let now = Date()
        await cache.store(registry: "r", scope: "s", authorization: "Bearer t", lifetime: 60, now: now)
        #expect(await cache.authorization(registry: "r", scope: "s", now: now.addingTimeInterval(30)) == "Bearer t")
        #expect(await cache.authorization(registry: "r", scope: "s", now: now.addingTimeInterval(59)) == nil)
        #expect(await cache.authorization(registry: "r", scope: "other", now: now) == nil)
    }
}

import Foundation
