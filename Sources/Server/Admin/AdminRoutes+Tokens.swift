import ControlPlane
import Hummingbird
import PortcullisAPI
import Storage

extension AdminRoutes {
    func registerTokens(on api: RouterGroup<PortcullisContext>) {
        route(API.createToken, on: api) { call in
            let (record, secret) = try await control.createToken(name: call.body.name, scope: call.body.scope)
            return TokenBody(record, token: secret)
        }
        route(API.tokens, on: api) { _ in
            try await control.tokens().map { TokenBody($0, token: nil) }
        }
        route(API.removeToken, on: api) { call in
            try await control.removeToken(id: try call.parameter("id"))
            return Nothing()
        }
        route(API.signingKeys, on: api) { _ in
            let keys = try await control.signingKeys()
            return keys.enumerated().map { SigningKeyBody(keyID: $1.keyID, createdAt: $1.createdAt, signing: $0 == 0) }
        }
        route(API.rotateSigningKey, on: api) { _ in
            let key = try await control.rotateSigningKey(tokens: c.tokens)
            return SigningKeyBody(keyID: key.keyID, createdAt: key.createdAt, signing: true)
        }
    }
}

extension TokenBody {
    init(_ r: VendorTokenRecord, token: String?) {
        self.init(id: r.id, name: r.name, scope: r.scope.rawValue, token: token, createdAt: r.createdAt)
    }
}
