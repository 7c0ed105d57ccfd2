import Access
import Storage

extension ControlPlane {
    /// Creates a vendor API token; the secret is returned here once and never stored readable.
    public func createToken(name: String, scope: String?) async throws -> (record: VendorTokenRecord, secret: String) {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ControlPlaneError.invalid("a token needs a name (what uses it, e.g. ci-pushes), to tell it apart when revoking")
        }
        guard let scope = VendorTokenRecord.Scope(rawValue: scope ?? "push") else {
            throw ControlPlaneError.invalid("scope must be read or push")
        }
        let secret = VendorToken.generate()
        let record = VendorTokenRecord(name: name, tokenHash: SecretBox.lookupHash(secret), scope: scope)
        try await normalized { try await store.createVendorToken(record) }
        await gate.invalidateVendorTokens()
        logger.info("vendor token created", metadata: ["token": "\(record.id)", "scope": "\(scope.rawValue)"])
        return (record, secret)
    }

    public func tokens() async throws -> [VendorTokenRecord] {
        try await store.vendorTokens()
    }

    /// Revokes a token at once on this replica.
    public func removeToken(id: String) async throws {
        guard try await store.deleteVendorToken(id: id) else { throw ControlPlaneError.notFound("token \(id) not found") }
        await gate.invalidateVendorTokens()
    }
}

extension ControlPlane {
    /// The registry-token signing keys, newest (the one signing) first.
    public func signingKeys() async throws -> [SigningKeyRecord] {
        try await store.signingKeys()
    }

    /// Starts signing with a new key. Tokens signed with older keys stay valid until they
    /// expire; other replicas pick the new key up with the first token they see signed by it.
    public func rotateSigningKey(tokens: RegistryTokenService) async throws -> SigningKeyRecord {
        let id = try await SigningKeys.rotate(store: store, secrets: secrets, tokens: tokens)
        logger.notice("registry token signing key rotated", metadata: ["kid": "\(id)"])
        guard let record = try await store.signingKeys().first(where: { $0.keyID == id }) else {
            throw ControlPlaneError.notFound("signing key \(id) vanished")
        }
        return record
    }
}
