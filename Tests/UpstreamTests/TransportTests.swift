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

// MARK: - Challenge auth and the token exchange

/// A registry at reg.example that wants Bearer tokens from auth.example, counting what it sees.
final class TokenRegistry: Sendable {
    struct State {
        var tokensIssued = 0
        /// Tokens the registry accepts.
        var valid: Set<String> = []
        var tokenRequests: [UpstreamRequest] = []
        var registryRequests: [UpstreamRequest] = []
    }

    let state = Mutex(State())
    let challenge: String
    /// Answers of the token endpoint, in order, before it starts issuing tokens.
    let tokenFailures: Mutex<[UpstreamResponse]>
    /// Runs before the token endpoint answers (to hold it back in a test).
    let beforeToken: @Sendable () async -> Void
    /// Runs before the registry answers 401 to a request without a valid token.
    let beforeChallenge: @Sendable (UpstreamRequest) async -> Void

    init(challenge: String = #"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:org/app:pull""#,
         tokenFailures: [UpstreamResponse] = [], beforeToken: @escaping @Sendable () async -> Void = {},
         beforeChallenge: @escaping @Sendable (UpstreamRequest) async -> Void = { _ in }) {
        self.challenge = challenge
        self.tokenFailures = Mutex(tokenFailures)
        self.beforeToken = beforeToken
        self.beforeChallenge = beforeChallenge
    }

    var tokensIssued: Int { state.withLock { $0.tokensIssued } }
    var tokenRequests: [UpstreamRequest] { state.withLock { $0.tokenRequests } }
    var registryRequests: [UpstreamRequest] { state.withLock { $0.registryRequests } }
    func revokeAll() { state.withLock { $0.valid = [] } }

    /// The wire: the token endpoint at auth.example and the registry at reg.example.
    var transport: ScriptedTransport { ScriptedTransport { [self] request in
        if request.url.hasPrefix("https://auth.example/") {
            state.withLock { $0.tokenRequests.append(request) }
            await beforeToken()
            if let failure = tokenFailures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return failure }
            let token = state.withLock { state in
                state.tokensIssued += 1
                let token = "tok-\(state.tokensIssued)"
                state.valid.insert(token)
                return token
            }
            return response(200, [("Content-Type", "application/json")], #"{"token":"\#(token)","expires_in":300}"#)
        }
        let accepted = state.withLock { state in
            state.registryRequests.append(request)
            return request.authorization.map { $0.hasPrefix("Bearer ") && state.valid.contains(String($0.dropFirst(7))) } ?? false
        }
        if accepted { return response(200, [], "ok") }
        await beforeChallenge(request)
        return response(401, [("WWW-Authenticate", challenge)], #"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
    } }

    func auth(tokens: UpstreamTokenCache = UpstreamTokenCache()) -> ChallengeAuthTransport {
        let wire = transport
        return ChallengeAuthTransport(wrapping: wire, exchange: BearerTokenExchange(transport: wire), tokens: tokens)
    }
}

@Suite(.timeLimit(.minutes(1))) struct ChallengeAuthTransportTests {
    @Test func aBearerChallengeIsAnsweredWithATokenFromTheRealm() async throws {
        let registry = TokenRegistry()
        let auth = registry.auth()
        let answer = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1"))
        #expect(answer.status == 200)
        #expect(String(buffer: try await answer.body.collect(upTo: 10)) == "ok")

        let tokenRequest = try #require(registry.tokenRequests.first)
        #expect(registry.tokenRequests.count == 1)
        #expect(tokenRequest.method == .GET)
        #expect(tokenRequest.url == "https://auth.example/token?service=reg.example&scope=repository%3Aorg%2Fapp%3Apull")
        #expect(tokenRequest.authorization == vendorCredentials.headerValue, "the vendor's credentials go to the token endpoint")
        #expect(tokenRequest.headers.first(name: "Accept") == "application/json")
        #expect(registry.registryRequests.map(\.authorization) == [nil, "Bearer tok-1"])
        #expect(registry.registryRequests.map(\.url) == Array(repeating: "https://reg.example/v2/org/app/manifests/v1", count: 2))

        // The next request of the scope uses the cached token at once.
        #expect(try await auth.send(get("https://reg.example/v2/org/app/blobs/sha256:1")).status == 200)
        #expect(registry.tokensIssued == 1 && registry.tokenRequests.count == 1)
        #expect(registry.registryRequests.last?.authorization == "Bearer tok-1")
        #expect(registry.registryRequests.count == 3)
    }

    @Test func tokensAreCachedPerScopeAndRegistry() async throws {
        let registry = TokenRegistry(challenge: #"Bearer realm="https://auth.example/token",service="reg.example""#)
        let tokens = UpstreamTokenCache()
        let auth = registry.auth(tokens: tokens)
        _ = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1"))
        _ = try await auth.send(get("https://reg.example/v2/org/other/manifests/v1", scope: "repository:org/other:pull"))
        #expect(registry.tokensIssued == 2)
        // Without a scope in the challenge, the request's own scope is asked for.
        #expect(registry.tokenRequests.last?.url == "https://auth.example/token?service=reg.example&scope=repository%3Aorg%2Fother%3Apull")
        #expect(await tokens.authorization(registry: "reg-1", scope: pullScope) == "Bearer tok-1")
        #expect(await tokens.authorization(registry: "reg-1", scope: "repository:org/other:pull") == "Bearer tok-2")
        #expect(await tokens.authorization(registry: "reg-2", scope: pullScope) == nil)
    }

    /// A vendor changes a registry's credentials (on any replica): every replica's next target
    /// carries a new credentials key, so a token got with the old credentials is not sent again.
    @Test func tokensGotWithOtherCredentialsAreNotSent() async throws {
        let registry = TokenRegistry()
        let tokens = UpstreamTokenCache()
        let auth = registry.auth(tokens: tokens)
        var before = target
        before.credentialsKey = "old-credentials"
        _ = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1", on: before))
        _ = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1", on: before))
        #expect(registry.tokensIssued == 1)
        var after = target
        after.credentialsKey = "new-credentials"
        _ = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1", on: after))
        #expect(registry.tokensIssued == 2, "a token of the old credentials was reused")
        #expect(registry.registryRequests.last?.authorization == "Bearer tok-2")
        // Forgetting a registry forgets the tokens of every credentials it had.
        await tokens.forgetAll(registry: target.id)
        #expect(await tokens.authorization(registry: before.tokenKey, scope: pullScope) == nil)
        #expect(await tokens.authorization(registry: after.tokenKey, scope: pullScope) == nil)
    }

    @Test func aRefusedCachedTokenIsForgottenAndReplacedOnce() async throws {
        let registry = TokenRegistry()
        let tokens = UpstreamTokenCache()
        let auth = registry.auth(tokens: tokens)
        _ = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1"))
        registry.revokeAll()

        let answer = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1"))
        #expect(answer.status == 200)
        #expect(registry.tokensIssued == 2)
        #expect(registry.registryRequests.suffix(2).map(\.authorization) == ["Bearer tok-1", "Bearer tok-2"])
        #expect(await tokens.authorization(registry: "reg-1", scope: pullScope) == "Bearer tok-2")
    }

    @Test func aSecondRefusalIsReturnedNotRetriedAgain() async throws {
        // A registry that refuses every token it is given.
        let wire = ScriptedTransport { request in
            if request.url.hasPrefix("https://auth.example/") { return response(200, [], #"{"token":"useless"}"#) }
            return response(401, [("WWW-Authenticate", #"Bearer realm="https://auth.example/token",service="reg.example""#)])
        }
        let auth = ChallengeAuthTransport(wrapping: wire, exchange: BearerTokenExchange(transport: wire), tokens: UpstreamTokenCache())
        let answer = try await auth.send(get("https://reg.example/v2/org/app/manifests/v1"))
        #expect(answer.status == 401)
        #expect(wire.requests.map(\.url) == ["https://reg.example/v2/org/app/manifests/v1", "https://auth.example/token?service=reg.example&scope=repository%3Aorg%2Fapp%3Apull",
                                             "https://reg.example/v2/org/app/manifests/v1"])
        #expect(wire.requests.last?.authorization == "Bearer useless")
    }

    @Test func anonymousTargetsAskForAnonymousTokens() async throws {
        let registry = TokenRegistry()
        _ = try await registry.auth().send(get("https://reg.example/v2/org/app/manifests/v1", on: anonymousTarget))
        #expect(registry.tokenRequests.count == 1 && registry.tokenRequests[0].authorization == nil)
        #expect(registry.registryRequests.last?.authorization == "Bearer tok-1")
    }

    @Test func aBasicChallengeIsAnsweredWithTheTargetsCredentialsAndRemembered() async throws {
        let wire = ScriptedTransport { request in
            request.authorization == vendorCredentials.headerValue
                ? response(200) : response(401, [("WWW-Authenticate", #"Basic realm="registry""#)])
        }
        let auth = ChallengeAuthTransport(wrapping: wire, exchange: BearerTokenExchange(transport: wire), tokens: UpstreamTokenCache())
        #expect(try await auth.send(get("https://reg.example/v2/org/app/manifests/v1")).status == 200)
        #expect(wire.requests.map(\.authorization) == [nil, vendorCredentials.headerValue])
        #expect(try await auth.send(get("https://reg.example/v2/org/app/manifests/v2")).status == 200)
        #expect(wire.requests.count == 3 && wire.requests[2].authorization == vendorCredentials.headerValue, "no second challenge round")
    }

    @Test(arguments: [#"Basic realm="registry""#, "", "Negotiate", #"Digest realm="r",nonce="n""#])
    func withoutAUsableChallengeOrCredentialsAuthenticationFails(_ challenge: String) async throws {
        let wire = ScriptedTransport([.response(status: 401, headers: challenge.isEmpty ? [] : [("WWW-Authenticate", challenge)])])
        let auth = ChallengeAuthTransport(wrapping: wire, exchange: BearerTokenExchange(transport: wire), tokens: UpstreamTokenCache())
        await #expect(throws: UpstreamError.authenticationFailed) {
            try await auth.send(get("https://reg.example/v2/org/app/manifests/v1", on: anonymousTarget))
        }
        #expect(wire.requests.count == 1, "no retry without something to answer with")
    }

    struct TokenFailure: Sendable, CustomTestStringConvertible {
        var status: Int
        var headers: [String: String]
        var expected: UpstreamError
        var testDescription: String { "token endpoint \(status)" }
    }

    static let tokenFailures: [TokenFailure] = [
        TokenFailure(status: 401, headers: [:], expected: .authenticationFailed),
        TokenFailure(status: 403, headers: [:], expected: .authenticationFailed),
        TokenFailure(status: 429, headers: ["Retry-After": "7"], expected: .rateLimited(retryAfter: 7)),
        TokenFailure(status: 503, headers: [:], expected: .serverError(503)),
        TokenFailure(status: 404, headers: [:], expected: .notFound),
    ]

    @Test(arguments: tokenFailures)
    func tokenEndpointFailuresBecomeUpstreamErrors(_ failure: TokenFailure) async throws {
        let registry = TokenRegistry(tokenFailures: [response(failure.status, failure.headers.map { ($0.key, $0.value) })])
        let tokens = UpstreamTokenCache()
        await #expect(throws: failure.expected) {
            try await registry.auth(tokens: tokens).send(get("https://reg.example/v2/org/app/manifests/v1"))
        }
        #expect(registry.registryRequests.count == 1, "nothing to retry with")
        // Nothing was cached: the next request asks again, and gets a token this time.
        #expect(await tokens.authorization(registry: "reg-1", scope: pullScope) == nil)
        #expect(try await registry.auth(tokens: tokens).send(get("https://reg.example/v2/org/app/manifests/v1")).status == 200)
        #expect(registry.tokenRequests.count == 2)
    }

    @Test func tenConcurrentRequestsForOneScopeShareOneTokenRequest() async throws {
        // The token endpoint answers only once every request has been challenged, so all ten
        // are waiting for a token at the same time.
        let challenged = Mutex(0)
        let allChallenged = Gate()
        let registry = TokenRegistry(beforeToken: { await allChallenged.wait() }, beforeChallenge: { _ in
            if challenged.withLock({ $0 += 1; return $0 }) == 10 { await allChallenged.open() }
        })
        let auth = registry.auth()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<10 { group.addTask { try await auth.send(get("https://reg.example/v2/org/app/blobs/sha256:\(i)")).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 10))
        #expect(registry.tokenRequests.count == 1)
        #expect(registry.tokensIssued == 1)
        #expect(registry.registryRequests.count == 20)
        #expect(registry.registryRequests.filter { $0.authorization == "Bearer tok-1" }.count == 10)
    }

    @Test func aChallengeThatArrivesAfterAnotherRequestGotATokenUsesThatToken() async throws {
        // Request A is challenged and fetches a token; request B was sent without one before
        // the token arrived, and its 401 comes back after. B must use A's fresh token, not
        // throw it away and fetch another.
        let bChallenged = Gate(), releaseB = Gate()
        let registry = TokenRegistry(beforeChallenge: { request in
            if request.url.hasSuffix("/b") {
                await bChallenged.open()
                await releaseB.wait()
            }
        })
        let auth = registry.auth()
        let b = Task { try await auth.send(get("https://reg.example/v2/org/app/blobs/b")) }
        await bChallenged.wait()
        #expect(try await auth.send(get("https://reg.example/v2/org/app/blobs/a")).status == 200)
        #expect(registry.tokensIssued == 1)
        await releaseB.open()
        #expect(try await b.value.status == 200)
        #expect(registry.tokensIssued == 1, "B's stale challenge must not discard the token A just fetched")
        #expect(registry.registryRequests.filter { $0.url.hasSuffix("/b") }.map(\.authorization) == [nil, "Bearer tok-1"])
    }
}

/// Holds back whoever waits until it is opened.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
}

@Suite struct BearerTokenExchangeTests {
    func exchange(_ body: String, realm: String = "https://auth.example/token") async throws -> (authorization: String, lifetime: TimeInterval) {
        let wire = ScriptedTransport([.response(status: 200, body: body)])
        let challenge = AuthChallenge(scheme: "Bearer", parameters: ["realm": realm, "service": "reg.example"])
        return try await BearerTokenExchange(transport: wire).authorization(for: challenge, target: target, scope: pullScope, login: vendorCredentials.headerValue)
    }

    @Test func readsTokenOrAccessTokenAndBoundsTheLifetime() async throws {
        let plain = try await exchange(#"{"token":"a"}"#)
        #expect(plain.authorization == "Bearer a" && plain.lifetime == 60, "the spec's default lifetime")
        let oauth = try await exchange(#"{"access_token":"b","expires_in":120}"#)
        #expect(oauth.authorization == "Bearer b" && oauth.lifetime == 120)
        #expect(try await exchange(#"{"token":"c","expires_in":1}"#).lifetime == 10)
        #expect(try await exchange(#"{"token":"d","expires_in":86400}"#).lifetime == 3600)
    }

    @Test(arguments: [#"{}"#, #"{"token":""}"#, "not json", ""])
    func refusesAnAnswerWithoutAToken(_ body: String) async throws {
        await #expect(throws: UpstreamError.invalidResponse("token endpoint returned no token")) { try await exchange(body) }
    }

    @Test(arguments: ["", "ftp://auth.example/token", "/relative/token"])
    func refusesAChallengeWithoutAUsableRealm(_ realm: String) async throws {
        await #expect(throws: UpstreamError.invalidResponse("bearer challenge without a usable realm")) {
            try await exchange(#"{"token":"a"}"#, realm: realm)
        }
    }

    @Test func appendsToARealmThatHasAQuery() async throws {
        let wire = ScriptedTransport([.response(status: 200, body: #"{"token":"a"}"#)])
        let challenge = AuthChallenge(scheme: "Bearer", parameters: ["realm": "https://auth.example/token?account=x", "scope": "repository:org/app:pull,push"])
        _ = try await BearerTokenExchange(transport: wire).authorization(for: challenge, target: target, scope: pullScope, login: vendorCredentials.headerValue)
        #expect(wire.requests.first?.url == "https://auth.example/token?account=x&scope=repository%3Aorg%2Fapp%3Apull%2Cpush",
                "the challenge's own scope wins over the request's")
    }
}

// MARK: - Token cache

@Suite(.timeLimit(.minutes(1))) struct UpstreamTokenCacheTests {
    @Test func entriesExpireAQuarterOfTheirLifetimeOrTenSecondsEarly() async {
        let cache = UpstreamTokenCache()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        // (lifetime, last moment still served): margin = min(10, lifetime / 4).
        for (lifetime, servedUntil) in [(60.0, 50.0), (3600, 3590), (20, 15), (8, 6)] {
            await cache.store(registry: "r", scope: "s\(lifetime)", authorization: "A", lifetime: lifetime, now: now)
            #expect(await cache.authorization(registry: "r", scope: "s\(lifetime)", now: now.addingTimeInterval(servedUntil - 0.001)) == "A")
            #expect(await cache.authorization(registry: "r", scope: "s\(lifetime)", now: now.addingTimeInterval(servedUntil)) == nil)
        }
        await cache.store(registry: "r", scope: "x", authorization: "B", lifetime: 60, now: now)
        await cache.forget(registry: "r", scope: "x")
        #expect(await cache.authorization(registry: "r", scope: "x", now: now) == nil)
    }

    @Test func aRefusedValueIsForgottenOnlyWhileItIsStillTheCachedOne() async {
        let cache = UpstreamTokenCache()
        let now = Date()
        await cache.store(registry: "r", scope: "s", authorization: "Bearer new", lifetime: 60, now: now)
        await cache.forget(registry: "r", scope: "s", ifStill: "Bearer old")
        #expect(await cache.authorization(registry: "r", scope: "s", now: now) == "Bearer new")
        await cache.forget(registry: "r", scope: "s", ifStill: "Bearer new")
        #expect(await cache.authorization(registry: "r", scope: "s", now: now) == nil)
    }

    @Test func concurrentMissesShareOneFetch() async throws {
        let cache = UpstreamTokenCache()
        let fetches = Atomic(0)
        let started = Gate(), release = Gate()
        let fetch: @Sendable () async throws -> (authorization: String, lifetime: TimeInterval) = {
            fetches.add(1, ordering: .relaxed)
            await started.open()
            await release.wait()
            return ("Bearer shared", 300)
        }
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 {
                group.addTask { try await cache.authorization(registry: "r", scope: "s", fetch: fetch) }
            }
            // Every caller is waiting on the same held-back fetch.
            await started.wait()
            await release.open()
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: "Bearer shared", count: 10))
        #expect(fetches.load(ordering: .relaxed) == 1)
        #expect(await cache.authorization(registry: "r", scope: "s") == "Bearer shared")
        // Cached now: no fetch at all.
        _ = try await cache.authorization(registry: "r", scope: "s") { Issue.record("must not fetch"); return ("x", 1) }
        // Another scope is another fetch.
        #expect(try await cache.authorization(registry: "r", scope: "t") { ("Bearer t", 300) } == "Bearer t")
    }

    @Test func aFailedFetchIsNotCached() async throws {
        struct Refused: Error {}
        let cache = UpstreamTokenCache()
        await #expect(throws: Refused.self) {
            try await cache.authorization(registry: "r", scope: "s") { throw Refused() }
        }
        #expect(await cache.authorization(registry: "r", scope: "s") == nil)
        let fetched = Atomic(0)
        let value = try await cache.authorization(registry: "r", scope: "s") {
            fetched.add(1, ordering: .relaxed)
            return ("Bearer ok", 300)
        }
        #expect(value == "Bearer ok" && fetched.load(ordering: .relaxed) == 1, "the next caller fetches again")
    }

    @Test func aTokenWithNoLifetimeLeftIsNotServed() async throws {
        let cache = UpstreamTokenCache()
        let fetches = Atomic(0)
        for _ in 0..<2 {
            _ = try await cache.authorization(registry: "r", scope: "s") {
                fetches.add(1, ordering: .relaxed)
                return ("Bearer once", 0)
            }
        }
        #expect(fetches.load(ordering: .relaxed) == 2)
    }
}

// MARK: - Metrics

@Suite struct MetricsTransportTests {
    @Test(arguments: [200, 302, 404, 429, 503])
    func responsesPassThroughUnchanged(_ status: Int) async throws {
        let wire = ScriptedTransport([.response(status: status, headers: [("X-A", "1"), ("Retry-After", "7")], body: "body \(status)")])
        let request = get("https://reg.example/v2/", authorization: "Bearer t")
        let answer = try await MetricsTransport(wrapping: wire).send(request)
        #expect(answer.status == status)
        #expect(answer.header("X-A") == "1" && answer.header("Retry-After") == "7")
        #expect(String(buffer: try await answer.body.collect(upTo: 100)) == "body \(status)")
        #expect(wire.requests.count == 1)
        #expect(wire.requests[0].url == request.url && wire.requests[0].headers == request.headers && wire.requests[0].scope == request.scope)
    }

    @Test(arguments: [UpstreamError.unreachable("timeout"), .authenticationFailed, .invalidResponse("x")])
    func errorsPassThroughUnchanged(_ error: UpstreamError) async throws {
        let wire = ScriptedTransport([.failure(error)])
        await #expect(throws: error) { try await MetricsTransport(wrapping: wire).send(get("https://reg.example/v2/")) }
    }
}

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
