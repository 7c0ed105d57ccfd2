import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

/// Pushes blobs and manifests to a customer's own registry (any distribution-spec registry),
/// logging in the way registries ask: Basic, or a bearer token for the challenged scope.
final class RegistryPusher {
    let scheme: String
    let host: String
    let client: HTTPClient
    private let username: String?
    private let password: String?
    /// Authorization per repository, once a challenge has been answered.
    private var authorization: [String: String] = [:]

    init(scheme: String, host: String, username: String?, password: String?, client: HTTPClient) {
        self.scheme = scheme
        self.host = host
        self.username = username
        self.password = password
        self.client = client
    }

    /// Uploads a blob unless the repository has it; `body` makes the bytes (it may be asked twice).
    /// Returns whether it was uploaded.
    func pushBlob(_ digest: String, size: Int64, repository: String, body: @escaping () -> HTTPClientRequest.Body) async throws -> Bool {
        let head = try await send(.HEAD, "/v2/\(repository)/blobs/\(digest)", repository: repository)
        if head.status == .ok { return false }
        let start = try await send(.POST, "/v2/\(repository)/blobs/uploads/", repository: repository, body: { .bytes(ByteBuffer()) },
                                   headers: ["Content-Length": "0"])
        guard start.status == .accepted, let location = start.headers.first(name: "Location") else {
            throw CLIError("\(host)/\(repository): cannot start an upload (HTTP \(start.status.code))")
        }
        let url = location.hasPrefix("http") ? location : "\(scheme)://\(host)\(location)"
        let separator = url.contains("?") ? "&" : "?"
        let put = try await send(.PUT, url + separator + "digest=" + digest, repository: repository, body: body,
                                 headers: ["Content-Type": "application/octet-stream", "Content-Length": String(size)])
        guard put.status == .created else {
            throw CLIError("\(host)/\(repository): upload of \(digest) refused (HTTP \(put.status.code)) \(try await text(put))")
        }
        return true
    }

    func pushManifest(_ bytes: [UInt8], mediaType: String, reference: String, repository: String) async throws {
        let response = try await send(.PUT, "/v2/\(repository)/manifests/\(reference)", repository: repository,
                                      body: { .bytes(ByteBuffer(bytes: bytes)) }, headers: ["Content-Type": mediaType])
        guard response.status == .created else {
            throw CLIError("\(host)/\(repository): manifest \(reference) refused (HTTP \(response.status.code)) \(try await text(response))")
        }
    }

    private func text(_ response: HTTPClientResponse) async throws -> String {
        String(buffer: try await response.body.collect(upTo: 64 << 10)).prefix(300).description
    }

    private func send(_ method: HTTPMethod, _ pathOrURL: String, repository: String, body: (() -> HTTPClientRequest.Body)? = nil,
                      headers: [String: String] = [:]) async throws -> HTTPClientResponse {
        for attempt in 0..<2 {
            var request = HTTPClientRequest(url: pathOrURL.hasPrefix("http") ? pathOrURL : "\(scheme)://\(host)\(pathOrURL)")
            request.method = method
            for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
            if let auth = authorization[repository] { request.headers.replaceOrAdd(name: "Authorization", value: auth) }
            if let body { request.body = body() }
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .minutes(30))
            } catch {
                throw CLIError("cannot reach the registry \(host): \(APIClient.explain(error, caCert: nil))")
            }
            guard response.status == .unauthorized, attempt == 0, let challenge = response.headers.first(name: "WWW-Authenticate") else {
                return response
            }
            _ = try? await response.body.collect(upTo: 1 << 20)
            authorization[repository] = try await answer(challenge, repository: repository)
        }
        throw CLIError("the registry \(host) refused the credentials for \(repository)")
    }

    /// Basic credentials, or a token fetched from the challenge's realm for pull and push.
    private func answer(_ challenge: String, repository: String) async throws -> String {
        guard let username, let password else {
            throw CLIError("the registry \(host) asks for credentials: pass --username and --password (or --password-stdin)")
        }
        let basic = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        guard let parsed = AuthChallenge.parse(challenge), parsed.isBearer else { return basic }
        let params = parsed.parameters
        guard let realm = params["realm"] else { throw CLIError("the registry \(host) sent a bearer challenge without a realm") }
        var components = URLComponents(string: realm)
        components?.queryItems = (params["service"].map { [URLQueryItem(name: "service", value: $0)] } ?? [])
            + [URLQueryItem(name: "scope", value: "repository:\(repository):pull,push")]
        guard let url = components?.url?.absoluteString else { throw CLIError("the registry \(host) sent an unusable realm") }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: basic)
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let token = (object["token"] ?? object["access_token"]) as? String else {
            throw CLIError("the registry \(host) refused the credentials (token service answered HTTP \(response.status.code))")
        }
        return "Bearer " + token
    }
}
