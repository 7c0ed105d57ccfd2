import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OCI

/// The distribution API over HTTP, on a transport chain: metrics → challenge auth → redirects → AsyncHTTPClient.
public struct HTTPUpstreamRegistry: UpstreamRegistry {
    let transport: any UpstreamTransport
    /// The tokens and logins the chain keeps, when this registry built the chain.
    let tokens: UpstreamTokenCache?

    public init(transport: any UpstreamTransport) {
        self.transport = transport
        tokens = nil
    }

    private init(transport: any UpstreamTransport, tokens: UpstreamTokenCache) {
        self.transport = transport
        self.tokens = tokens
    }

    public func forgetLogins(registry id: String) async {
        await tokens?.forgetAll(registry: id)
    }

    /// The production chain. Token requests (to a realm, to ECR) go through redirects but not
    /// through auth or metrics.
    public init(http: HTTPClient, responseTimeout: TimeAmount, tokens: UpstreamTokenCache = UpstreamTokenCache(), logger: Logger) {
        self.init(wire: HTTPClientTransport(http: http, timeout: responseTimeout, logger: logger), tokens: tokens)
    }

    /// The server's chain: every connection (registry, redirect target, token service) checked
    /// against the address policy first.
    public init(connections: OutboundConnections, responseTimeout: TimeAmount, tokens: UpstreamTokenCache = UpstreamTokenCache(), logger: Logger) {
        self.init(wire: HTTPClientTransport(connections: connections, timeout: responseTimeout, logger: logger), tokens: tokens)
    }

    private init(wire bottom: HTTPClientTransport, tokens: UpstreamTokenCache) {
        let wire = RedirectFollowingTransport(wrapping: TracingTransport(wrapping: bottom))
        let auth = ChallengeAuthTransport(wrapping: wire, exchange: BearerTokenExchange(transport: wire), tokens: tokens)
        self.init(transport: MetricsTransport(wrapping: auth), tokens: tokens)
    }

    public func manifestHead(_ target: UpstreamTarget, repository: String, reference: String) async throws -> UpstreamManifestHead {
        let response = try await send(target, .HEAD, repository, "manifests/\(reference)", accept: ManifestMediaType.acceptHeader)
        try await expectSuccess(response)
        return UpstreamManifestHead(digest: try? response.header("Docker-Content-Digest").map { try Digest(parsing: $0) },
                                    mediaType: response.header("Content-Type"),
                                    size: response.header("Content-Length").flatMap { Int64($0) })
    }

    public func manifest(_ target: UpstreamTarget, repository: String, reference: String, limit: Int) async throws -> UpstreamManifest {
        let response = try await send(target, .GET, repository, "manifests/\(reference)", accept: ManifestMediaType.acceptHeader)
        try await expectSuccess(response)
        if let length = response.header("Content-Length").flatMap(Int.init), length > limit {
            await response.body.drain()
            throw UpstreamError.invalidResponse("manifest larger than \(limit) bytes")
        }
        do {
            return UpstreamManifest(bytes: try await response.body.collect(upTo: limit), mediaType: response.header("Content-Type"),
                                    digestHeader: try? response.header("Docker-Content-Digest").map { try Digest(parsing: $0) })
        } catch is NIOTooManyBytesError {
            throw UpstreamError.invalidResponse("manifest larger than \(limit) bytes")
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw UpstreamError.unreachable("\(error)")
        }
    }

    public func blob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> UpstreamBlob {
        let response = try await send(target, .GET, repository, "blobs/\(digest)")
        try await expectSuccess(response)
        return UpstreamBlob(length: response.header("Content-Length").flatMap { Int64($0) }, body: response.body)
    }

    public func blobSize(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> Int64? {
        let response = try await send(target, .HEAD, repository, "blobs/\(digest)")
        if response.status == 404 { return nil }
        try await expectSuccess(response)
        guard let length = response.header("Content-Length").flatMap({ Int64($0) }), length >= 0 else {
            throw UpstreamError.invalidResponse("blob HEAD without Content-Length")
        }
        return length
    }

    public func tagPage(_ target: UpstreamTarget, repository: String, query: [UpstreamQueryItem]) async throws -> UpstreamTagPage {
        let response = try await send(target, .GET, repository, "tags/list", query: query)
        try await expectSuccess(response)
        struct TagList: Decodable { var tags: [String]? }
        let body = try await collect(response, limit: 4 << 20, what: "tag list")
        guard let list = try? JSONDecoder().decode(TagList.self, from: Data(body.readableBytesView)) else {
            throw UpstreamError.invalidResponse("tag list is not JSON")
        }
        return UpstreamTagPage(tags: list.tags ?? [], next: response.header("Link").flatMap(Self.nextQuery(fromLink:)))
    }

    public func referrers(_ target: UpstreamTarget, repository: String, digest: Digest, artifactType: String?) async throws -> ByteBuffer? {
        let query = artifactType.map { [UpstreamQueryItem("artifactType", $0)] } ?? []
        let response = try await send(target, .GET, repository, "referrers/\(digest)", query: query, accept: ManifestMediaType.ociIndex)
        if response.status == 404 {
            await response.body.drain()
            return nil
        }
        try await expectSuccess(response)
        return try await collect(response, limit: 4 << 20, what: "referrers index")
    }

    public func ping(_ target: UpstreamTarget, repository: String) async throws {
        let response = try await transport.send(UpstreamRequest(method: .GET, url: target.baseURL + "/v2/", target: target,
                                                                scope: Self.pullScope(repository)))
        try await expectSuccess(response)
        await response.body.drain()
    }

    // MARK: Plumbing

    static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }

    private func send(_ target: UpstreamTarget, _ method: HTTPMethod, _ repository: String, _ path: String,
                      query: [UpstreamQueryItem] = [], accept: String? = nil) async throws -> UpstreamResponse {
        var url = "\(target.baseURL)/v2/\(repository)/\(path)"
        if !query.isEmpty { url += "?" + FormEncoding.encode(query.map { ($0.name, $0.value) }) }
        var headers = HTTPHeaders()
        if let accept { headers.add(name: "Accept", value: accept) }
        return try await transport.send(UpstreamRequest(method: method, url: url, headers: headers, target: target,
                                                         scope: Self.pullScope(repository)))
    }

    /// A small document's body; a body too large or cut off is the upstream's failure.
    private func collect(_ response: UpstreamResponse, limit: Int, what: String) async throws -> ByteBuffer {
        do {
            return try await response.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw UpstreamError.invalidResponse("\(what) larger than \(limit) bytes")
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw UpstreamError.unreachable("\(what) interrupted: \(error)")
        }
    }

    private func expectSuccess(_ response: UpstreamResponse) async throws {
        guard (200..<300).contains(response.status) else {
            await response.body.drain()
            throw UpstreamError.from(status: response.status, headers: response.headers)
        }
    }

    /// The query of the `rel="next"` link of a `Link` header (which may hold several links).
    static func nextQuery(fromLink header: String) -> [UpstreamQueryItem]? {
        for link in header.split(separator: ",") {
            let parameters = link.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parameters.contains("rel=\"next\"") || parameters.contains("rel=next"),
                  let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">"), open < close,
                  let components = URLComponents(string: String(link[link.index(after: open)..<close])) else { continue }
            let items = (components.queryItems ?? []).compactMap { item in item.value.map { UpstreamQueryItem(item.name, $0) } }
            return items.isEmpty ? nil : items
        }
        return nil
    }
}
