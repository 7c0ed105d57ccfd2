import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Synchronization
import Testing
@testable import Upstream

// MARK: - The registry operations over HTTP

@Suite struct HTTPUpstreamRegistryTests {
    struct StatusCase: Sendable, CustomTestStringConvertible {
        var status: Int
        var headers: [String: String] = [:]
        var expected: UpstreamError
        var testDescription: String { "\(status) \(headers)" }
    }

    static let statusCases: [StatusCase] = [
        StatusCase(status: 404, expected: .notFound),
        StatusCase(status: 401, expected: .authenticationFailed),
        StatusCase(status: 403, expected: .authenticationFailed),
        StatusCase(status: 429, headers: ["Retry-After": "7"], expected: .rateLimited(retryAfter: 7)),
        StatusCase(status: 429, expected: .rateLimited(retryAfter: nil)),
        StatusCase(status: 429, headers: ["Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"], expected: .rateLimited(retryAfter: nil)),
        StatusCase(status: 503, expected: .serverError(503)),
        StatusCase(status: 500, expected: .serverError(500)),
        StatusCase(status: 418, expected: .unexpectedStatus(418)),
    ]

    @Test(arguments: statusCases)
    func statusesBecomeUpstreamErrors(_ c: StatusCase) async throws {
        let reply = ScriptedTransport.Reply.response(status: c.status, headers: c.headers.map { ($0.key, $0.value) })
        let wire = ScriptedTransport(Array(repeating: reply, count: 5))
        let registry = HTTPUpstreamRegistry(transport: wire)
        let digest = Digest.of(Array("x".utf8))
        await #expect(throws: c.expected) { try await registry.manifest(target, repository: "org/app", reference: "v1", limit: 1 << 20) }
        await #expect(throws: c.expected) { try await registry.manifestHead(target, repository: "org/app", reference: "v1") }
        await #expect(throws: c.expected) { try await registry.blob(target, repository: "org/app", digest: digest) }
        await #expect(throws: c.expected) { try await registry.tagPage(target, repository: "org/app", query: []) }
        if c.status == 404 {
            #expect(try await registry.blobSize(target, repository: "org/app", digest: digest) == nil, "a blob HEAD 404 is an answer")
        } else {
            await #expect(throws: c.expected) { try await registry.blobSize(target, repository: "org/app", digest: digest) }
        }
    }

    @Test func requestsNameTheRepositoryPathAndScope() async throws {
        let manifest = #"{"schemaVersion":2}"#
        let digest = Digest.of(Array(manifest.utf8))
        let wire = ScriptedTransport([
            .response(status: 200, headers: [("Docker-Content-Digest", digest.description), ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                                             ("Content-Length", "19")]),
            .response(status: 200, headers: [("Docker-Content-Digest", digest.description), ("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                      body: manifest),
            .response(status: 200, headers: [("Content-Length", "42")]),
            .response(status: 200, headers: [("Content-Length", "5")], body: "bytes"),
        ])
        let registry = HTTPUpstreamRegistry(transport: wire)
        let head = try await registry.manifestHead(target, repository: "org/app", reference: "v1")
        #expect(head == UpstreamManifestHead(digest: digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 19))
        let fetched = try await registry.manifest(target, repository: "org/app", reference: digest.description, limit: 1 << 20)
        #expect(String(buffer: fetched.bytes) == manifest && fetched.digestHeader == digest && fetched.mediaType == "application/vnd.oci.image.manifest.v1+json")
        #expect(try await registry.blobSize(target, repository: "org/app", digest: digest) == 42)
        let blob = try await registry.blob(target, repository: "org/app", digest: digest)
        #expect(blob.length == 5)
        #expect(String(buffer: try await blob.body.collect(upTo: 10)) == "bytes")

        let sent = wire.requests
        #expect(sent.map(\.method) == [.HEAD, .GET, .HEAD, .GET])
        #expect(sent.map(\.url) == ["https://reg.example/v2/org/app/manifests/v1", "https://reg.example/v2/org/app/manifests/\(digest)",
                                    "https://reg.example/v2/org/app/blobs/\(digest)", "https://reg.example/v2/org/app/blobs/\(digest)"])
        #expect(sent.allSatisfy { $0.scope == "repository:org/app:pull" && $0.target.id == "reg-1" })
        #expect(sent[0].headers.first(name: "Accept") == ManifestMediaType.acceptHeader)
    }

    @Test func oversizedManifestsAndHeadsWithoutLengthsAreRefused() async throws {
        let wire = ScriptedTransport([
            .response(status: 200, headers: [("Content-Length", "100")], body: String(repeating: "x", count: 100)),
            .response(status: 200, body: String(repeating: "x", count: 100)),
            .response(status: 200),
        ])
        let registry = HTTPUpstreamRegistry(transport: wire)
        await #expect(throws: UpstreamError.invalidResponse("manifest larger than 10 bytes")) {
            try await registry.manifest(target, repository: "org/app", reference: "v1", limit: 10)
        }
        await #expect(throws: UpstreamError.invalidResponse("manifest larger than 10 bytes")) {
            try await registry.manifest(target, repository: "org/app", reference: "v1", limit: 10)
        }
        await #expect(throws: UpstreamError.invalidResponse("blob HEAD without Content-Length")) {
            try await registry.blobSize(target, repository: "org/app", digest: Digest.of(Array("x".utf8)))
        }
    }

    @Test func tagPagesFollowTheLinkHeader() async throws {
        let wire = ScriptedTransport([
            .response(status: 200, headers: [("Link", #"</v2/org/app/tags/list?n=2&last=b>; rel="next""#)], body: #"{"name":"org/app","tags":["a","b"]}"#),
            .response(status: 200, headers: [("Link", #"<https://reg.example/v2/org/app/tags/list?last=d&n=2>; rel="next""#)],
                      body: #"{"name":"org/app","tags":["c","d"]}"#),
            .response(status: 200, body: #"{"name":"org/app","tags":["e"]}"#),
        ])
        let registry = HTTPUpstreamRegistry(transport: wire)
        #expect(try await registry.allTags(target, repository: "org/app") == ["a", "b", "c", "d", "e"])
        #expect(wire.requests.map(\.url) == ["https://reg.example/v2/org/app/tags/list",
                                             "https://reg.example/v2/org/app/tags/list?n=2&last=b",
                                             "https://reg.example/v2/org/app/tags/list?last=d&n=2"])
    }

    @Test func aTagPageWithoutTagsOrWithBrokenJSON() async throws {
        let wire = ScriptedTransport([
            .response(status: 200, body: #"{"name":"org/app","tags":null}"#),
            .response(status: 200, body: "<html>"),
        ])
        let registry = HTTPUpstreamRegistry(transport: wire)
        #expect(try await registry.tagPage(target, repository: "org/app", query: []) == UpstreamTagPage(tags: [], next: nil))
        await #expect(throws: UpstreamError.invalidResponse("tag list is not JSON")) {
            try await registry.tagPage(target, repository: "org/app", query: [])
        }
    }

    struct LinkCase: Sendable, CustomTestStringConvertible {
        var link: String
        var next: [UpstreamQueryItem]?
        var testDescription: String { link }
    }

    static let linkCases: [LinkCase] = [
        LinkCase(link: #"</v2/org/app/tags/list?n=2&last=b>; rel="next""#, next: [UpstreamQueryItem("n", "2"), UpstreamQueryItem("last", "b")]),
        LinkCase(link: #"<https://reg.example/v2/x/tags/list?last=v1.0%2B1>; rel="next""#, next: [UpstreamQueryItem("last", "v1.0+1")]),
        LinkCase(link: #"</v2/org/app/tags/list?n=2&last=b>; rel="prev""#, next: nil),
        LinkCase(link: #"</v2/org/app/tags/list?n=2&last=a>; rel="prev", </v2/org/app/tags/list?n=2&last=d>; rel="next""#,
                 next: [UpstreamQueryItem("n", "2"), UpstreamQueryItem("last", "d")]),
        LinkCase(link: #"</v2/org/app/tags/list>; rel="next""#, next: nil),
        LinkCase(link: "garbage", next: nil),
        LinkCase(link: "", next: nil),
    ]

    @Test(arguments: linkCases)
    func parsesTheNextPageFromLink(_ c: LinkCase) {
        #expect(HTTPUpstreamRegistry.nextQuery(fromLink: c.link) == c.next)
    }

    @Test func referrersPassTheFilterAndA404MeansNone() async throws {
        let subject = Digest.of(Array("s".utf8))
        let wire = ScriptedTransport([
            .response(status: 200, body: #"{"manifests":[]}"#),
            .response(status: 404),
            .response(status: 503),
        ])
        let registry = HTTPUpstreamRegistry(transport: wire)
        let index = try await registry.referrers(target, repository: "org/app", digest: subject, artifactType: "application/vnd.x+json")
        #expect(index.map { String(buffer: $0) } == #"{"manifests":[]}"#)
        #expect(wire.requests[0].url == "https://reg.example/v2/org/app/referrers/\(subject)?artifactType=application%2Fvnd.x%2Bjson")
        #expect(wire.requests[0].headers.first(name: "Accept") == ManifestMediaType.ociIndex)
        #expect(try await registry.referrers(target, repository: "org/app", digest: subject, artifactType: nil) == nil)
        #expect(wire.requests[1].url == "https://reg.example/v2/org/app/referrers/\(subject)")
        await #expect(throws: UpstreamError.serverError(503)) {
            try await registry.referrers(target, repository: "org/app", digest: subject, artifactType: nil)
        }
    }

    @Test func pingChecksTheBaseEndpoint() async throws {
        let wire = ScriptedTransport([.response(status: 200, body: "{}"), .response(status: 401)])
        let registry = HTTPUpstreamRegistry(transport: wire)
        try await registry.ping(target, repository: "org/app")
        #expect(wire.requests[0].url == "https://reg.example/v2/" && wire.requests[0].scope == "repository:org/app:pull")
        await #expect(throws: UpstreamError.authenticationFailed) { try await registry.ping(target, repository: "org/app") }
    }

    /// The production chain over a scripted wire: a challenge, a token, and a redirect to a
    /// CDN that gets no credentials.
    @Test func theChainAuthenticatesAndFollowsRedirects() async throws {
        let wire = ScriptedTransport { request in
            switch request.url {
            case let url where url.hasPrefix("https://auth.example/"):
                return response(200, [], #"{"token":"t1"}"#)
            case let url where url.hasPrefix("https://cdn.example/"):
                return response(200, [("Content-Length", "3")], "abc")
            default:
                guard request.authorization == "Bearer t1" else {
                    return response(401, [("WWW-Authenticate", #"Bearer realm="https://auth.example/token",service="reg.example""#)])
                }
                return response(307, [("Location", "https://cdn.example/blob?sig=1")])
            }
        }
        let redirects = RedirectFollowingTransport(wrapping: wire)
        let auth = ChallengeAuthTransport(wrapping: redirects, exchange: BearerTokenExchange(transport: redirects), tokens: UpstreamTokenCache())
        let registry = HTTPUpstreamRegistry(transport: MetricsTransport(wrapping: auth))
        let blob = try await registry.blob(target, repository: "org/app", digest: Digest.of(Array("abc".utf8)))
        #expect(String(buffer: try await blob.body.collect(upTo: 10)) == "abc")
        #expect(wire.requests.map { "\($0.url.prefix(22)) \($0.authorization ?? "-")" } == [
            "https://reg.example/v2 -",
            "https://auth.example/t \(vendorCredentials.headerValue)",
            "https://reg.example/v2 Bearer t1",
            "https://cdn.example/bl -",
        ])
    }
}
