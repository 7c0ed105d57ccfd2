import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Synchronization
import Testing
@testable import Upstream

// MARK: - A scripted transport

/// Records every request it receives and answers each from a queue of replies, or from a
/// handler when the answer depends on the request.
final class ScriptedTransport: UpstreamTransport, Sendable {
    enum Reply: Sendable {
        case response(status: Int, headers: [(String, String)] = [], body: String = "")
        case failure(UpstreamError)
    }

    private struct State {
        var requests: [UpstreamRequest] = []
        var queue: [Reply] = []
    }

    private let state: Mutex<State>
    private let handler: (@Sendable (UpstreamRequest) async throws -> UpstreamResponse)?

    init(_ replies: [Reply]) {
        state = Mutex(State(queue: replies))
        handler = nil
    }

    init(handler: @escaping @Sendable (UpstreamRequest) async throws -> UpstreamResponse) {
        state = Mutex(State())
        self.handler = handler
    }

    var requests: [UpstreamRequest] { state.withLock { $0.requests } }
    var remaining: Int { state.withLock { $0.queue.count } }

    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        let reply: Reply? = state.withLock { state in
            state.requests.append(request)
            return handler == nil ? (state.queue.isEmpty ? nil : state.queue.removeFirst()) : nil
        }
        if let handler { return try await handler(request) }
        guard let reply else {
            Issue.record("unexpected request \(request.method) \(request.url)")
            return UpstreamResponse(status: 599)
        }
        switch reply {
        case .response(let status, let headers, let body):
            return response(status, headers, body)
        case .failure(let error):
            throw error
        }
    }
}

func response(_ status: Int, _ headers: [(String, String)] = [], _ body: String = "") -> UpstreamResponse {
    UpstreamResponse(status: status, headers: HTTPHeaders(headers), body: body.isEmpty ? .empty : .bytes([ByteBuffer(string: body)]))
}

let vendorCredentials = BasicCredentials(username: "vendor-robot", password: "s3cret")
// Their token service is on a host of its own, approved for them as a vendor approves one (`--token-realm`).
let target = UpstreamTarget(id: "reg-1", name: "vendor", baseURL: "https://reg.example", login: .basic(vendorCredentials),
                            tokenRealmHosts: ["auth.example"])
let anonymousTarget = UpstreamTarget(id: "reg-2", name: "anon", baseURL: "https://reg.example", login: .anonymous,
                                     tokenRealmHosts: ["auth.example"])
let pullScope = "repository:org/app:pull"

func get(_ url: String, authorization: String? = nil, on target: UpstreamTarget = target, scope: String = pullScope) -> UpstreamRequest {
    var headers = HTTPHeaders()
    headers.add(name: "Accept", value: "application/json")
    if let authorization { headers.add(name: "Authorization", value: authorization) }
    return UpstreamRequest(method: .GET, url: url, headers: headers, target: target, scope: scope)
}

extension UpstreamRequest {
    var authorization: String? { headers.first(name: "Authorization") }
}

// MARK: - Redirects

@Suite struct RedirectFollowingTransportTests {
    @Test(arguments: [302, 307, 301, 303, 308])
    func followsARelativeLocationOnTheSameHostKeepingAuthorization(_ status: Int) async throws {
        let wire = ScriptedTransport([
            .response(status: status, headers: [("Location", "/cdn/blob?sig=abc")]),
            .response(status: 200, body: "bytes"),
        ])
        let transport = RedirectFollowingTransport(wrapping: wire)
        let answer = try await transport.send(get("https://reg.example/v2/org/app/blobs/sha256:1", authorization: "Bearer t"))
        #expect(answer.status == 200)
        #expect(String(buffer: try await answer.body.collect(upTo: 100)) == "bytes")
        let sent = wire.requests
        #expect(sent.map(\.url) == ["https://reg.example/v2/org/app/blobs/sha256:1", "https://reg.example/cdn/blob?sig=abc"])
        #expect(sent.map(\.authorization) == ["Bearer t", "Bearer t"])
        #expect(sent[1].headers.first(name: "Accept") == "application/json", "other headers travel on")
    }

    @Test func resolvesARelativeLocationAgainstTheCurrentURL() async throws {
        let wire = ScriptedTransport([
            .response(status: 307, headers: [("Location", "next?x=1")]),
            .response(status: 200),
        ])
        _ = try await RedirectFollowingTransport(wrapping: wire).send(get("https://reg.example/v2/org/app/blobs/d"))
        #expect(wire.requests.last?.url == "https://reg.example/v2/org/app/blobs/next?x=1")
    }

    @Test func dropsAuthorizationOnAnotherHostAndNeverPutsItBack() async throws {
        let wire = ScriptedTransport([
            .response(status: 307, headers: [("Location", "https://reg.example/v2/org/app/blobs/moved")]),
            .response(status: 302, headers: [("Location", "https://cdn.example/signed/blob?sig=1")]),
            .response(status: 302, headers: [("Location", "https://REG.example/back-home")]),
            .response(status: 200),
        ])
        let answer = try await RedirectFollowingTransport(wrapping: wire)
            .send(get("https://reg.example/v2/org/app/blobs/d", authorization: "Basic dmVuZG9yOnNlY3JldA=="))
        #expect(answer.status == 200)
        #expect(wire.requests.map(\.url) == ["https://reg.example/v2/org/app/blobs/d", "https://reg.example/v2/org/app/blobs/moved",
                                             "https://cdn.example/signed/blob?sig=1", "https://REG.example/back-home"])
        #expect(wire.requests.map(\.authorization) == ["Basic dmVuZG9yOnNlY3JldA==", "Basic dmVuZG9yOnNlY3JldA==", nil, nil])
    }

    @Test(arguments: ["http://reg.example/v2/blob", "https://reg.example:8443/v2/blob", "http://reg.example:443/v2/blob"])
    func dropsAuthorizationOnAnotherSchemeOrPort(_ location: String) async throws {
        let wire = ScriptedTransport([.response(status: 302, headers: [("Location", location)]), .response(status: 200)])
        _ = try await RedirectFollowingTransport(wrapping: wire)
            .send(get("https://reg.example/v2/org/app/blobs/d", authorization: "Basic dmVuZG9yOnNlY3JldA=="))
        #expect(wire.requests.map(\.authorization) == ["Basic dmVuZG9yOnNlY3JldA==", nil], "credentials never leave the origin")
    }

    @Test func keepsAuthorizationOnTheSameOriginWrittenWithItsDefaultPort() async throws {
        let wire = ScriptedTransport([.response(status: 302, headers: [("Location", "https://reg.example:443/v2/moved")]), .response(status: 200)])
        _ = try await RedirectFollowingTransport(wrapping: wire).send(get("https://reg.example/v2/d", authorization: "Bearer t"))
        #expect(wire.requests.map(\.authorization) == ["Bearer t", "Bearer t"])
    }

    @Test(arguments: ["ftp://reg.example/blob", "file:///etc/passwd", "javascript:alert(1)", "gopher://cdn.example/x"])
    func refusesALocationThatIsNotHTTP(_ location: String) async throws {
        let wire = ScriptedTransport([.response(status: 302, headers: [("Location", location)])])
        await #expect(throws: UpstreamError.invalidResponse("redirect to an unusable location")) {
            try await RedirectFollowingTransport(wrapping: wire).send(get("https://reg.example/v2/org/app/blobs/d"))
        }
        #expect(wire.requests.count == 1)
    }

    @Test(arguments: [0, 1, 3])
    func stopsAfterMaxRedirects(_ max: Int) async throws {
        let loop = (0...max).map { i in ScriptedTransport.Reply.response(status: 302, headers: [("Location", "/hop\(i)")]) }
        let wire = ScriptedTransport(loop + [.response(status: 200)])
        await #expect(throws: UpstreamError.invalidResponse("too many redirects")) {
            try await RedirectFollowingTransport(wrapping: wire, maxRedirects: max).send(get("https://reg.example/v2/"))
        }
        #expect(wire.requests.count == max + 1, "the first request and \(max) redirects")

        // Exactly `max` redirects are fine.
        let enough = ScriptedTransport(Array(loop.prefix(max)) + [.response(status: 200)])
        #expect(try await RedirectFollowingTransport(wrapping: enough, maxRedirects: max).send(get("https://reg.example/v2/")).status == 200)
        #expect(enough.requests.count == max + 1)
    }

    @Test func aRedirectWithoutLocationAndOtherStatusesPassThrough() async throws {
        for status in [200, 302, 304, 401, 404, 500] {
            let wire = ScriptedTransport([.response(status: status, headers: [("X-Marker", "\(status)")])])
            let answer = try await RedirectFollowingTransport(wrapping: wire).send(get("https://reg.example/v2/"))
            #expect(answer.status == status && answer.header("X-Marker") == "\(status)")
            #expect(wire.requests.count == 1)
        }
    }

    @Test func errorsOfTheNextTransportPassThrough() async throws {
        let wire = ScriptedTransport([.response(status: 302, headers: [("Location", "https://cdn.example/x")]),
                                      .failure(.unreachable("reset"))])
        await #expect(throws: UpstreamError.unreachable("reset")) {
            try await RedirectFollowingTransport(wrapping: wire).send(get("https://reg.example/v2/"))
        }
    }
}
