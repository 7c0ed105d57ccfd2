import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import OCI

/// Speaks the distribution API to vendors' registries with their stored credentials:
/// anonymous, Basic, or the Bearer challenge flow, with tokens cached per scope.
/// Redirects (blob CDNs) are followed by hand so Authorization never goes to another host.
public final class UpstreamClient: Sendable {
    let http: HTTPClient
    let tokens = UpstreamTokenCache()
    let logger: Logger
    /// How long to wait for an upstream's response head.
    public let responseTimeout: TimeAmount

    public init(http: HTTPClient, responseTimeout: TimeAmount = .seconds(30), logger: Logger) {
        self.http = http
        self.responseTimeout = responseTimeout
        self.logger = logger
    }

    /// An HTTP client configured for upstream use: no automatic redirects, bounded waits.
    public static func makeHTTPClient(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(60)) -> HTTPClient {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: connectTimeout, read: readTimeout)
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    // MARK: Registry operations

    public struct ManifestHead: Sendable, Equatable {
        public var digest: Digest?
        public var mediaType: String?
        public var size: Int64?
    }

    public struct FetchedManifest: Sendable {
        public var bytes: ByteBuffer
        public var mediaType: String?
        public var digestHeader: Digest?
    }

    public func headManifest(_ target: UpstreamTarget, repository: String, reference: String) async throws -> ManifestHead {
        let response = try await send(target, .HEAD, path: "/v2/\(repository)/manifests/\(reference)",
                                      accept: ManifestMediaType.acceptHeader, scope: pullScope(repository))
        try await expectSuccess(response)
        return ManifestHead(digest: try? response.headers.first(name: "Docker-Content-Digest").map { try Digest(parsing: $0) },
                            mediaType: response.headers.first(name: "Content-Type"),
                            size: response.headers.first(name: "Content-Length").flatMap { Int64($0) })
    }

    public func getManifest(_ target: UpstreamTarget, repository: String, reference: String, limit: Int) async throws -> FetchedManifest {
        let response = try await send(target, .GET, path: "/v2/\(repository)/manifests/\(reference)",
                                      accept: ManifestMediaType.acceptHeader, scope: pullScope(repository))
        try await expectSuccess(response)
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > limit {
            throw UpstreamError.invalidResponse("manifest larger than \(limit) bytes")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw UpstreamError.invalidResponse("manifest larger than \(limit) bytes")
        } catch {
            throw UpstreamError.unreachable("\(error)")
        }
        return FetchedManifest(bytes: bytes, mediaType: response.headers.first(name: "Content-Type"),
                               digestHeader: try? response.headers.first(name: "Docker-Content-Digest").map { try Digest(parsing: $0) })
    }

    /// Starts a blob download. The caller must consume or drop `body`.
    public func getBlob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> (length: Int64?, body: HTTPClientResponse.Body) {
        let response = try await send(target, .GET, path: "/v2/\(repository)/blobs/\(digest)", scope: pullScope(repository))
        try await expectSuccess(response)
        return (response.headers.first(name: "Content-Length").flatMap { Int64($0) }, response.body)
    }

    /// Size of a blob upstream, or nil when the upstream says it is not there.
    public func headBlob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> Int64? {
        let response = try await send(target, .HEAD, path: "/v2/\(repository)/blobs/\(digest)", scope: pullScope(repository))
        if response.status.code == 404 { return nil }
        try await expectSuccess(response)
        return response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? -1
    }

    /// A small JSON document (tag list, referrers) and the pagination `Link` header.
    public func getDocument(_ target: UpstreamTarget, repository: String, path: String, query: [(String, String)],
                            accept: String? = nil, limit: Int = 4 << 20) async throws -> (bytes: ByteBuffer, contentType: String?, link: String?) {
        let response = try await send(target, .GET, path: "/v2/\(repository)/\(path)", query: query, accept: accept,
                                      scope: pullScope(repository))
        try await expectSuccess(response)
        let bytes = try await response.body.collect(upTo: limit)
        return (bytes, response.headers.first(name: "Content-Type"), response.headers.first(name: "Link"))
    }

    /// Checks that the endpoint answers as a registry and the credentials work.
    public func ping(_ target: UpstreamTarget, repository: String) async throws {
        let response = try await send(target, .GET, path: "/v2/", scope: pullScope(repository))
        try await expectSuccess(response)
        _ = try? await response.body.collect(upTo: 1 << 16)
    }

    func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }

    // MARK: Transport with auth

    /// Sends a request, answering one auth challenge and following redirects.
    func send(_ target: UpstreamTarget, _ method: HTTPMethod, path: String, query: [(String, String)] = [],
              accept: String? = nil, scope: String) async throws -> HTTPClientResponse {
        let started = ContinuousClock.now
        do {
            let response = try await authenticatedSend(target, method, path: path, query: query, accept: accept, scope: scope)
            Timer(label: "portcullis_upstream_request_duration_seconds").record(duration: ContinuousClock.now - started)
            if response.status.code >= 500 || response.status.code == 429 {
                Counter(label: "portcullis_upstream_errors_total", dimensions: [("upstream", target.name)]).increment()
            }
            return response
        } catch {
            Timer(label: "portcullis_upstream_request_duration_seconds").record(duration: ContinuousClock.now - started)
            Counter(label: "portcullis_upstream_errors_total", dimensions: [("upstream", target.name)]).increment()
            throw error
        }
    }

    private func authenticatedSend(_ target: UpstreamTarget, _ method: HTTPMethod, path: String, query: [(String, String)],
                                   accept: String?, scope: String) async throws -> HTTPClientResponse {
        var url = target.baseURL + path
        if !query.isEmpty { url += "?" + Self.formEncode(query) }
        var authorization = await tokens.authorization(registry: target.id, scope: scope)
        for attempt in 0..<2 {
            let response = try await execute(method, url: url, accept: accept, authorization: authorization)
            guard response.status.code == 401, attempt == 0 else { return response }
            let challengeHeader = response.headers.first(name: "WWW-Authenticate")
            await drain(response)
            guard let header = challengeHeader, let challenge = AuthChallenge.parse(header) else {
                throw UpstreamError.authenticationFailed
            }
            if challenge.isBearer {
                let (token, lifetime) = try await fetchToken(target, challenge: challenge, scope: scope)
                authorization = "Bearer " + token
                await tokens.store(registry: target.id, scope: scope, authorization: authorization!, lifetime: lifetime)
            } else if challenge.isBasic, let credentials = target.credentials {
                authorization = credentials.headerValue
                await tokens.store(registry: target.id, scope: scope, authorization: authorization!, lifetime: 3600)
            } else {
                throw UpstreamError.authenticationFailed
            }
        }
        throw UpstreamError.authenticationFailed
    }

    private func execute(_ method: HTTPMethod, url: String, accept: String?, authorization: String?) async throws -> HTTPClientResponse {
        var currentURL = url
        var auth = authorization
        let originHost = URL(string: url)?.host
        for _ in 0..<6 {
            var request = HTTPClientRequest(url: currentURL)
            request.method = method
            request.headers.add(name: "User-Agent", value: "portcullis")
            if let accept { request.headers.add(name: "Accept", value: accept) }
            if let auth { request.headers.add(name: "Authorization", value: auth) }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: responseTimeout, logger: logger)
            } catch {
                throw UpstreamError.unreachable(Self.describe(error))
            }
            guard [301, 302, 303, 307, 308].contains(response.status.code),
                  let location = response.headers.first(name: "Location") else {
                return response
            }
            await drain(response)
            guard let next = URL(string: location, relativeTo: URL(string: currentURL))?.absoluteURL,
                  let scheme = next.scheme, scheme == "https" || scheme == "http" else {
                throw UpstreamError.invalidResponse("redirect to an unusable location")
            }
            // Credentials belong to the registry; a CDN gets a signed URL and nothing else.
            if next.host != originHost { auth = nil }
            currentURL = next.absoluteString
        }
        throw UpstreamError.invalidResponse("too many redirects")
    }

    private func fetchToken(_ target: UpstreamTarget, challenge: AuthChallenge, scope: String) async throws -> (String, TimeInterval) {
        guard let realm = challenge.parameters["realm"], let realmURL = URL(string: realm),
              let scheme = realmURL.scheme, scheme == "https" || scheme == "http" else {
            throw UpstreamError.invalidResponse("bearer challenge without a usable realm")
        }
        var query: [(String, String)] = []
        if let service = challenge.parameters["service"] { query.append(("service", service)) }
        query.append(("scope", challenge.parameters["scope"] ?? scope))
        var request = HTTPClientRequest(url: realm + (realm.contains("?") ? "&" : "?") + Self.formEncode(query))
        request.headers.add(name: "User-Agent", value: "portcullis")
        if let credentials = target.credentials { request.headers.add(name: "Authorization", value: credentials.headerValue) }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: responseTimeout, logger: logger)
        } catch {
            throw UpstreamError.unreachable(Self.describe(error))
        }
        guard response.status.code == 200 else {
            await drain(response)
            throw response.status.code == 401 || response.status.code == 403
                ? UpstreamError.authenticationFailed : UpstreamError.from(status: Int(response.status.code))
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Double?
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)),
              let token = decoded.token ?? decoded.access_token, !token.isEmpty else {
            throw UpstreamError.invalidResponse("token endpoint returned no token")
        }
        // The spec's default lifetime is 60 s; never trust more than an hour.
        return (token, min(max(decoded.expires_in ?? 60, 10), 3600))
    }

    private func expectSuccess(_ response: HTTPClientResponse) async throws {
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            await drain(response)
            throw UpstreamError.from(status: code)
        }
    }

    private func drain(_ response: HTTPClientResponse) async {
        _ = try? await response.body.collect(upTo: 1 << 20)
    }

    static func formEncode(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { k, v in
            "\(k.addingPercentEncoding(withAllowedCharacters: allowed) ?? k)=\(v.addingPercentEncoding(withAllowedCharacters: allowed) ?? v)"
        }.joined(separator: "&")
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return String(describing: e) }
        return String(describing: type(of: error)) + ": " + String(describing: error).prefix(200)
    }
}
