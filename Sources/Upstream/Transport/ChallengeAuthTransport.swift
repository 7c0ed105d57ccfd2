import OCI

/// Authenticates to a registry the way it asks to be: sends with the cached authorization
/// for the request's scope (if any), and on a 401 answers the challenge once — a Bearer
/// token from the registry's realm, or Basic credentials — then retries. A cached token the
/// registry no longer accepts is thrown away on that 401, so expiry costs one retry.
public struct ChallengeAuthTransport: UpstreamTransport {
    let next: any UpstreamTransport
    let exchange: BearerTokenExchange
    let tokens: UpstreamTokenCache
    /// How long Basic credentials are reused without a new challenge.
    let basicLifetime: Double = 3600

    public init(wrapping next: any UpstreamTransport, exchange: BearerTokenExchange, tokens: UpstreamTokenCache) {
        self.next = next
        self.exchange = exchange
        self.tokens = tokens
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var request = request
        let registry = request.target.id
        let sent = await tokens.authorization(registry: registry, scope: request.scope)
        if let sent {
            request.headers.replaceOrAdd(name: "Authorization", value: sent)
        }
        let first = try await next.send(request)
        guard first.status == 401 else { return first }
        let header = first.header("WWW-Authenticate")
        await first.body.drain()
        // Forget only the value this request was refused with. A request sent without one has
        // nothing to forget, and must not discard a token another request fetched meanwhile:
        // that would cost the burst a second token request.
        if let sent { await tokens.forget(registry: registry, scope: request.scope, ifStill: sent) }
        guard let header, let challenge = AuthChallenge.parse(header) else { throw UpstreamError.authenticationFailed }
        let authorization: String
        if challenge.isBearer {
            let exchange = self.exchange
            let target = request.target, scope = request.scope
            authorization = try await tokens.authorization(registry: registry, scope: scope) {
                try await exchange.authorization(for: challenge, target: target, scope: scope)
            }
        } else if challenge.isBasic, let credentials = request.target.credentials {
            authorization = credentials.headerValue
            await tokens.store(registry: registry, scope: request.scope, authorization: authorization, lifetime: basicLifetime)
        } else {
            throw UpstreamError.authenticationFailed
        }
        request.headers.replaceOrAdd(name: "Authorization", value: authorization)
        return try await next.send(request)
    }
}
