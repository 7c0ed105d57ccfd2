import OCI

/// Authenticates to a registry the way it asks to be: sends with the cached authorization
/// for the request's scope (if any), and on a 401 answers the challenge once — a Bearer
/// token from the registry's realm, or Basic credentials — then retries. A cached token the
/// registry no longer accepts is thrown away on that 401 (an exchanged login such as ECR's is
/// fetched anew), so expiry costs one refresh and one retry.
public struct ChallengeAuthTransport: UpstreamTransport {
    let next: any UpstreamTransport
    let exchange: BearerTokenExchange
    let tokens: UpstreamTokenCache
    let logins: RegistryLogins
    /// How long Basic credentials are reused without a new challenge.
    let basicLifetime: Double = 3600

    /// Logins that need an exchange (ECR) go through `next` unless `logins` says otherwise.
    public init(wrapping next: any UpstreamTransport, exchange: BearerTokenExchange, tokens: UpstreamTokenCache, logins: RegistryLogins? = nil) {
        self.next = next
        self.exchange = exchange
        self.tokens = tokens
        self.logins = logins ?? RegistryLogins(tokens: tokens, ecr: ECRTokenClient(transport: next))
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var request = request
        let registry = request.target.tokenKey
        let sent = await tokens.authorization(registry: registry, scope: request.scope)
        if let sent {
            request.headers.replaceOrAdd(name: "Authorization", value: sent)
        }
        let first = try await next.send(request)
        guard first.status == 401 else { return first }
        let header = first.header("WWW-Authenticate")
        await first.body.drain()
        // A redirect target that asks for credentials is not the registry: it gets none.
        if let elsewhere = first.redirectedTo {
            throw UpstreamError.unapprovedLogin(host: Origin(elsewhere)?.authority ?? elsewhere)
        }
        // Forget only the value this request was refused with. A request sent without one has
        // nothing to forget, and must not discard a token another request fetched meanwhile:
        // that would cost the burst a second token request.
        if let sent {
            await tokens.forget(registry: registry, scope: request.scope, ifStill: sent)
            await logins.refused(sent, for: request.target)
        }
        guard let header, let challenge = AuthChallenge.parse(header) else { throw UpstreamError.authenticationFailed }
        let authorization: String
        if challenge.isBearer {
            if let realm = challenge.parameters["realm"], !request.target.approvesRealm(realm) {
                throw UpstreamError.unapprovedLogin(host: Origin(realm)?.authority ?? realm)
            }
            let exchange = self.exchange, logins = self.logins
            let target = request.target, scope = request.scope
            authorization = try await tokens.authorization(registry: registry, scope: scope) {
                try await exchange.authorization(for: challenge, target: target, scope: scope, login: try await logins.authorization(for: target))
            }
        } else if challenge.isBasic, let login = try await logins.authorization(for: request.target) {
            authorization = login
            // An exchanged login is renewed on its own schedule; re-read it soon so the new one is used.
            let lifetime: Double = if case .ecr = request.target.login { 60 } else { basicLifetime }
            await tokens.store(registry: registry, scope: request.scope, authorization: authorization, lifetime: lifetime)
        } else {
            throw UpstreamError.authenticationFailed
        }
        request.headers.replaceOrAdd(name: "Authorization", value: authorization)
        let second = try await next.send(request)
        // Authenticated, the registry redirected to a host that asks for credentials of its own: it gets none.
        if second.status == 401, let elsewhere = second.redirectedTo {
            await second.body.drain()
            throw UpstreamError.unapprovedLogin(host: Origin(elsewhere)?.authority ?? elsewhere)
        }
        return second
    }
}
