import Access
import Backends
import Foundation
import Logging
import OCI
import Storage

/// The secrets a server starts with: the key sealing secrets at rest and the bootstrap admin
/// token, from the configuration when given there and else from the data directory.
public struct ServerSecrets: Sendable {
    public var secretKey: [UInt8]
    public var adminToken: String
    /// A data directory's token-signing key from before keys moved into the database.
    public var legacySigningKeyPEM: String?

    public init(secretKey: [UInt8], adminToken: String, legacySigningKeyPEM: String? = nil) {
        self.secretKey = secretKey
        self.adminToken = adminToken
        self.legacySigningKeyPEM = legacySigningKeyPEM
    }

    public static func resolve(_ configuration: ServerConfiguration, dataDir: DataDirectory, logger: Logger) throws -> ServerSecrets {
        let shared = configuration.databaseURL != nil
        let key: [UInt8]
        if let given = configuration.secretKey {
            key = given
        } else if shared {
            // A key made up here would seal credentials no other replica could open.
            throw StorageStartupError(description: """
                replicas sharing a database need the same secret key: set PORTCULLIS_SECRET_KEY (or --secret-key-file) \
                on every replica; `portcullis keygen` prints a new one
                """)
        } else {
            key = try dataDir.secretKey()
        }
        let token: String
        if let given = configuration.adminToken {
            token = given
        } else {
            token = try dataDir.adminToken()
            if shared {
                logger.notice("the admin token in \(dataDir.adminTokenPath) works on this replica only; set PORTCULLIS_ADMIN_TOKEN on every replica")
            }
        }
        // A single server keeps its first signing key in the data directory too, as it always
        // has; the database holds every key, and replicas share only that.
        let legacy = shared
            ? FileManager.default.contents(atPath: dataDir.signingKeyPath).flatMap { String(data: $0, encoding: .utf8) }
            : try dataDir.secretFile(dataDir.signingKeyPath) { RegistryTokenService.generatePrivateKeyPEM() }
        return ServerSecrets(secretKey: key, adminToken: token, legacySigningKeyPEM: legacy)
    }

    /// A new secret key, base64, as `PORTCULLIS_SECRET_KEY` takes it.
    public static func generateKey() -> String { Base64.encode(SecretBox.generateKeyBytes()) }

    /// Decodes `PORTCULLIS_SECRET_KEY` or a key file's contents.
    public static func decodeKey(_ text: String) throws -> [UInt8] {
        guard let bytes = Base64.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw StorageStartupError(description: "the secret key must be 32 random bytes in base64, as `portcullis keygen` prints")
        }
        return bytes
    }
}
