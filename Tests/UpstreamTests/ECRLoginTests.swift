import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Synchronization
import Testing
@testable import Upstream

/// An ECR API and an ECR-style registry in one scripted transport: the API hands out
/// passwords (`AWS:pw-N`), the registry answers Basic challenges and accepts only the
/// passwords it is told are valid.
final class ECRFake: Sendable {
    struct State {
        var tokenRequests: [UpstreamRequest] = []
        var registryRequests: [UpstreamRequest] = []
        var issued = 0
        var valid: Set<String> = []
        var expiresAt: Double? = 1_420_070_400 // 2015-01-01, as moto answers
        var apiStatus = 200
        var apiError = ""
    }

    let state = Mutex(State())
    var tokenRequests: [UpstreamRequest] { state.withLock { $0.tokenRequests } }
    var registryRequests: [UpstreamRequest] { state.withLock { $0.registryRequests } }

    static let access = ECRAccess(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "eu-west-1")
    static let target = UpstreamTarget(id: "ecr-1", name: "ecr", baseURL: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                                       login: .ecr(access))

    var transport: ScriptedTransport { ScriptedTransport { request in
        if request.url.hasPrefix("https://api.ecr.") {
            // Let concurrent callers pile up, as a slow token endpoint would make them.
            try await Task.sleep(for: .milliseconds(50))
            let (status, body): (Int, String) = self.state.withLock { state in
                state.tokenRequests.append(request)
                guard state.apiStatus == 200 else { return (state.apiStatus, #"{"__type":"\#(state.apiError)","message":"no"}"#) }
                state.issued += 1
                let password = "pw-\(state.issued)"
                state.valid.insert(password)
                let token = Data("AWS:\(password)".utf8).base64EncodedString()
                let expiry = state.expiresAt.map { ",\"expiresAt\":\($0)" } ?? ""
                return (200, #"{"authorizationData":[{"authorizationToken":"\#(token)"\#(expiry),"proxyEndpoint":"https://x"}]}"#)
            }
            return response(status, [("Content-Type", "application/x-amz-json-1.1")], body)
        }
        let accepted = self.state.withLock { state in
            state.registryRequests.append(request)
            guard let header = request.authorization, header.hasPrefix("Basic "),
                  let decoded = Data(base64Encoded: String(header.dropFirst(6))).flatMap({ String(data: $0, encoding: .utf8) }),
                  decoded.hasPrefix("AWS:") else { return false }
            return state.valid.contains(String(decoded.dropFirst(4)))
        }
        if accepted { return response(200, [], "ok") }
        return response(401, [("WWW-Authenticate", #"Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com""#)])
    } }

    func auth(tokens: UpstreamTokenCache = UpstreamTokenCache()) -> ChallengeAuthTransport {
        let wire = transport
        return ChallengeAuthTransport(wrapping: wire, exchange: BearerTokenExchange(transport: wire), tokens: tokens,
                                      logins: RegistryLogins(tokens: tokens, ecr: ECRTokenClient(transport: wire, endpointOverride: nil)))
    }

    func revokeAll() { state.withLock { $0.valid.removeAll() } }
}

func ecrGet(_ path: String) -> UpstreamRequest {
    UpstreamRequest(method: .GET, url: ECRFake.target.baseURL + path, target: ECRFake.target, scope: "repository:org/app:pull")
}

@Suite(.timeLimit(.minutes(1))) struct ECRLoginTests {
    @Test(arguments: [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "us-east-1"),
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com:443", "eu-central-1"),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ])
    func theRegionIsReadFromAnECRHost(host: String, region: String) {
        #expect(ECRAccess.region(ofHost: host) == region)
    }

    @Test(arguments: ["quay.io", "127.0.0.1:5000", "dkr.ecr.amazonaws.com", "example.dkr.ecr.us-east-1.example.com"])
    func otherHostsNameNoRegion(host: String) {
        #expect(ECRAccess.region(ofHost: host) == nil)
    }

    @Test func aTokenIsReusedUntilFiveMinutesBeforeItRunsOutAndAtLeastAMinute() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let twelveHours = ECRRegistryToken(basicValue: "x", expiresAt: now.addingTimeInterval(12 * 3600))
        #expect(twelveHours.reuseUntil(now: now) == now.addingTimeInterval(12 * 3600 - 300))
        // Missing, past or nearly past: short-lived, one refresh a minute rather than one per request.
        for expiresAt in [nil, now.addingTimeInterval(-3600 * 24 * 365), now.addingTimeInterval(30)] as [Date?] {
            #expect(ECRRegistryToken(basicValue: "x", expiresAt: expiresAt).reuseUntil(now: now) == now.addingTimeInterval(60))
        }
    }

    @Test func theTokenRequestIsASignedJSONCallToTheRegionsEndpoint() async throws {
        let fake = ECRFake()
        let client = ECRTokenClient(transport: fake.transport, endpointOverride: nil)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let token = try await client.token(ECRFake.access, for: ECRFake.target, now: now)
        #expect(String(data: try #require(Data(base64Encoded: token.basicValue)), encoding: .utf8) == "AWS:pw-1")
        #expect(token.expiresAt == Date(timeIntervalSince1970: 1_420_070_400))
        let request = try #require(fake.tokenRequests.first)
        #expect(request.method == .POST)
        #expect(request.url == "https://api.ecr.eu-west-1.amazonaws.com/")
        #expect(request.headers.first(name: "x-amz-target") == "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
        #expect(request.headers.first(name: "content-type") == "application/x-amz-json-1.1")
        #expect(request.headers.first(name: "x-amz-date") == "20270115T080000Z")
        let authorization = try #require(request.authorization)
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20270115/eu-west-1/ecr/aws4_request, "
                                        + "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="))
        #expect(!authorization.contains(ECRFake.access.secretAccessKey))
        #expect(request.body.map { String(buffer: $0) } == "{}")
    }

    @Test func anEndpointOverrideReplacesTheRegionalHost() async throws {
        let fake = ECRFake()
        let seen = Mutex<String?>(nil)
        let wire = ScriptedTransport { request in
            seen.withLock { $0 = request.url + " " + (request.authorization ?? "") }
            return try await fake.transport.send(UpstreamRequest(method: request.method, url: "https://api.ecr.local/", headers: request.headers,
                                                                  body: request.body, target: request.target, scope: request.scope))
        }
        _ = try await ECRTokenClient(transport: wire, endpointOverride: "http://127.0.0.1:5999/").token(ECRFake.access, for: ECRFake.target)
        let line = try #require(seen.withLock { $0 })
        #expect(line.hasPrefix("http://127.0.0.1:5999/ AWS4-HMAC-SHA256"))
    }

    @Test(arguments: [
        (400, "UnrecognizedClientException", UpstreamError.authenticationFailed),
        (403, "InvalidSignatureException", UpstreamError.authenticationFailed),
        (400, "com.amazonaws.ecr#ThrottlingException", UpstreamError.rateLimited(retryAfter: nil)),
        (503, "ServiceUnavailableException", UpstreamError.serverError(503)),
    ])
    func refusalsBecomeProxyErrors(status: Int, type: String, expected: UpstreamError) async throws {
        let fake = ECRFake()
        fake.state.withLock { $0.apiStatus = status; $0.apiError = type }
        let error = await #expect(throws: UpstreamError.self) {
            _ = try await ECRTokenClient(transport: fake.transport, endpointOverride: nil).token(ECRFake.access, for: ECRFake.target)
        }
        #expect(error == expected)
        #expect(!(error?.description.contains(ECRFake.access.secretAccessKey) ?? true))
    }

    @Test func concurrentPullsShareOneTokenRequestAndReuseIt() async throws {
        let fake = ECRFake()
        let auth = fake.auth()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<20 { group.addTask { try await auth.send(ecrGet("/v2/org/app/blobs/sha256:\(i)")).status } }
            for try await status in group { #expect(status == 200) }
        }
        // moto's expiry is years past: still one request, reused (for a minute) by later pulls.
        for _ in 0..<5 { #expect(try await auth.send(ecrGet("/v2/org/app/manifests/v1")).status == 200) }
        #expect(fake.tokenRequests.count == 1)
    }

    @Test func aRefusedPasswordIsRefreshedOnceAndTheRequestRetriedOnce() async throws {
        let fake = ECRFake()
        fake.state.withLock { $0.expiresAt = Date().addingTimeInterval(12 * 3600).timeIntervalSince1970 }
        let auth = fake.auth()
        #expect(try await auth.send(ecrGet("/v2/org/app/manifests/v1")).status == 200)
        fake.revokeAll()
        let before = fake.registryRequests.count
        #expect(try await auth.send(ecrGet("/v2/org/app/manifests/v1")).status == 200)
        #expect(fake.tokenRequests.count == 2)
        #expect(fake.registryRequests.count - before == 2, "the refused request and one retry")
    }

    @Test func aWrongKeyIsAnAuthenticationFailure() async throws {
        let fake = ECRFake()
        fake.state.withLock { $0.apiStatus = 400; $0.apiError = "UnrecognizedClientException" }
        let auth = fake.auth()
        await #expect(throws: UpstreamError.authenticationFailed) { _ = try await auth.send(ecrGet("/v2/org/app/manifests/v1")) }
    }
}
