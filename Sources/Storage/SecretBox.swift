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

    /// A MAC of `message` under a key derived from the server key for `purpose`: a value only
    /// this server (and its replicas) can make, to bind a form token to a cookie.
    public func authenticate(_ message: String, purpose: String) -> String {
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array(purpose.utf8), outputByteCount: 32)
        return HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: derived).map { String(format: "%02x", $0) }.joined()
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
