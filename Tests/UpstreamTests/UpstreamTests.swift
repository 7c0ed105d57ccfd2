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

    /// The HTTP client traps on a port above 65535: such a URL, from a vendor or an upstream's
    /// answer, is refused before a connection is tried.
    @Test func urlsWithImpossiblePortsAreRefused() {
        #expect(OutboundRefusal.ofPort(in: "http://127.0.0.1:99999/token")?.reason == "port 99999 is not a TCP port (1-65535)")
        #expect(OutboundRefusal.ofPort(in: "https://[::1]:65536/v2/")?.host != nil)
        #expect(OutboundRefusal.ofPort(in: "http://127.0.0.1:0/") != nil)
        #expect(OutboundRefusal.ofPort(in: "https://quay.io:65535/v2/") == nil)
        #expect(OutboundRefusal.ofPort(in: "https://quay.io/v2/") == nil)
    }

    @Test func dockerHubAnswersAtItsAPIHost() throws {
        for spelling in ["index.docker.io", "docker.io", "registry-1.docker.io"] {
            let e = try RegistryEndpoint(parsing: spelling)
            #expect(e.baseURL == "https://registry-1.docker.io")
            #expect(e.canonicalHost == "docker.io")
        }
    }

    @Test(arguments: ["", "ftp://x", "https://a/b", "user@host", "host?x=1", "http://", "http://127.0.0.1:70000", "registry.example:0"])
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
