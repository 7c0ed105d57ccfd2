import Foundation
import NIOHTTP1
import OCI
import Tracing

/// Docker's token flow, the client side: asks a registry's token realm for a token that
/// covers a scope, with the vendor's login as Basic auth (or none, for anonymous tokens).
public struct BearerTokenExchange: Sendable {
    let transport: any UpstreamTransport

    public init(transport: any UpstreamTransport) {
        self.transport = transport
    }

    /// The `Authorization` value to use and how long it may be cached.
    public func authorization(for challenge: AuthChallenge, target: UpstreamTarget, scope: String, login: String?) async throws
        -> (authorization: String, lifetime: TimeInterval) {
        try await withSpan("upstream.token", ofKind: .client) { span in
            span.attributes["portcullis.upstream.scope"] = scope
            return try await exchange(challenge, target: target, scope: scope, login: login)
        }
    }

    private func exchange(_ challenge: AuthChallenge, target: UpstreamTarget, scope: String, login: String?) async throws
        -> (authorization: String, lifetime: TimeInterval) {
        guard let realm = challenge.parameters["realm"], let realmURL = URL(string: realm),
              let scheme = realmURL.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw UpstreamError.invalidResponse("bearer challenge without a usable realm")
        }
        var query: [(String, String)] = []
        if let service = challenge.parameters["service"] { query.append(("service", service)) }
        query.append(("scope", challenge.parameters["scope"] ?? scope))
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        if let login { headers.add(name: "Authorization", value: login) }
        let url = realm + (realm.contains("?") ? "&" : "?") + FormEncoding.encode(query)
        let response = try await transport.send(UpstreamRequest(method: .GET, url: url, headers: headers, target: target, scope: scope))
        guard response.status == 200 else {
            await response.body.drain()
            throw response.status == 401 || response.status == 403
                ? UpstreamError.authenticationFailed : UpstreamError.from(status: response.status, headers: response.headers)
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
        return ("Bearer " + token, min(max(decoded.expires_in ?? 60, 10), 3600))
    }
}

enum FormEncoding {
    static func encode(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { k, v in
            "\(k.addingPercentEncoding(withAllowedCharacters: allowed) ?? k)=\(v.addingPercentEncoding(withAllowedCharacters: allowed) ?? v)"
        }.joined(separator: "&")
    }
}
