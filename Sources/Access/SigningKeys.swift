import Foundation
import Storage

/// The keys registry tokens are signed with, kept in the database sealed with the server key
/// so every replica holding that key signs and verifies alike.
public enum SigningKeys {
    /// The keys, newest first. The first start on a database creates one — the data
    /// directory's old `signing-key.pem` when there is one, so tokens already issued stay valid.
    public static func load(store: any SigningKeyStore, secrets: SecretBox, legacyPEM: String? = nil) async throws -> [String] {
        var records = try await store.signingKeys()
        if records.isEmpty {
            try await store.addSigningKey(try record(legacyPEM ?? RegistryTokenService.generatePrivateKeyPEM(), secrets: secrets))
            records = try await store.signingKeys()
        }
        return try records.map { try secrets.open($0.sealedPEM) }
    }

    /// Adds a new newest key and returns its id. Tokens signed with older keys stay valid until they expire.
    public static func rotate(store: any SigningKeyStore, secrets: SecretBox, tokens: RegistryTokenService) async throws -> String {
        let pem = RegistryTokenService.generatePrivateKeyPEM()
        let key = try record(pem, secrets: secrets)
        try await store.addSigningKey(key)
        try await tokens.add(try await load(store: store, secrets: secrets))
        return key.keyID
    }

    static func record(_ pem: String, secrets: SecretBox) throws -> SigningKeyRecord {
        let id = RegistryTokenService.thumbprint(of: try P256SigningKeyPEM.publicKey(pem))
        return SigningKeyRecord(keyID: id, sealedPEM: try secrets.seal(pem))
    }
}

import Crypto

enum P256SigningKeyPEM {
    static func publicKey(_ pem: String) throws -> P256.Signing.PublicKey {
        try P256.Signing.PrivateKey(pemRepresentation: pem).publicKey
    }
}
