import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Synchronization
import TestSupport
import Testing
@testable import Upstream

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
