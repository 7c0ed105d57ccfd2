import Crypto
import Foundation
import OCI

/// Seals secrets at rest (upstream credentials, license IDs) with AES-256-GCM under the server key.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(keyBytes: [UInt8]) throws {
        guard keyBytes.count == 32 else { throw SecretBoxError.badKey }
        key = SymmetricKey(data: keyBytes)
    }

    public static func generateKeyBytes() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// Returns base64 of nonce ‖ ciphertext ‖ tag.
    public func seal(_ plaintext: String) throws -> String {
        let box = try AES.GCM.seal(Array(plaintext.utf8), using: key)
        guard let combined = box.combined else { throw SecretBoxError.cannotOpen }
        return Base64.encode(Array(combined))
    }

    public func open(_ sealed: String) throws -> String {
        guard let bytes = Base64.decode(sealed),
              let box = try? AES.GCM.SealedBox(combined: bytes),
              let plain = try? AES.GCM.open(box, using: key),
              let text = String(bytes: plain, encoding: .utf8) else {
            throw SecretBoxError.cannotOpen
        }
        return text
    }

    /// A stable, non-reversible lookup key for a secret (license IDs, API tokens).
    public static func lookupHash(_ secret: String) -> String {
        SHA256.hash(data: Array(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

public enum SecretBoxError: Error, CustomStringConvertible {
    case badKey, cannotOpen
    public var description: String {
        switch self {
        case .badKey: "the server key must be 32 bytes"
        case .cannotOpen: "a sealed secret could not be opened with the server key"
        }
    }
}
