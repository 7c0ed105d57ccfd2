import Crypto
import CryptoExtras
import Foundation
import Licensing
import Storage
import Synchronization

/// Signs a customer's license fields with the app's RSA key (created with the first need,
/// stored sealed, the same on every replica), so an application can verify its entitlements
/// offline with `app public-key`.
public final class LicenseFieldSigner: Sendable {
    let store: any LicenseFieldStore
    let secrets: SecretBox
    private let keys = Mutex<[String: _RSA.Signing.PrivateKey]>([:])

    public init(store: any LicenseFieldStore, secrets: SecretBox) {
        self.store = store
        self.secrets = secrets
    }

    func privateKey(appID: String) async throws -> _RSA.Signing.PrivateKey {
        if let cached = keys.withLock({ $0[appID] }) { return cached }
        let sealed: String
        if let existing = try await store.appSigningKey(appID: appID) {
            sealed = existing
        } else {
            let fresh = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            sealed = try await store.createAppSigningKey(appID: appID, sealedPEM: try secrets.seal(fresh.pemRepresentation))
        }
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: try secrets.open(sealed))
        keys.withLock { $0[appID] = key }
        return key
    }

    /// The PEM public key that verifies the app's field signatures.
    public func publicKeyPEM(appID: String) async throws -> String {
        try await privateKey(appID: appID).publicKey.pemRepresentation
    }

    /// Every field of the license: `expires_at`, then the app's fields in the order they were
    /// defined (a field without a value and without a default is left out). A value is signed
    /// once and the signature kept, so the same license yields the same chart bytes.
    public func fields(for license: License) async throws -> [SignedLicenseField] {
        let key = try await privateKey(appID: license.appID)
        let expires = license.expiresAt.map { ISO8601DateFormatter().string(from: $0) } ?? ""
        var entries = [(LicenseFieldDefinition.expiresAt, expires)]
        let values = try await store.fieldValues(customerID: license.customerID)
        for definition in try await store.licenseFields(appID: license.appID) {
            guard let value = values[definition.name] ?? definition.defaultValue else { continue }
            entries.append((definition, value))
        }
        var signed: [SignedLicenseField] = []
        for (definition, value) in entries {
            let customer = license.customerID
            var signature = try await store.fieldSignature(customerID: customer, name: definition.name, value: value)
            if signature == nil {
                let bytes = SignedLicenseField.signedBytes(app: license.appSlug, customerID: customer, name: definition.name, value: value)
                let fresh = try key.signature(for: SHA256.hash(data: bytes), padding: .PSS).rawRepresentation.base64EncodedString()
                signature = try await store.keepFieldSignature(customerID: customer, name: definition.name, value: value, signature: fresh)
            }
            signed.append(SignedLicenseField(definition: definition, value: value, signature: signature ?? ""))
        }
        return signed
    }

    static let documentEntry = "portcullis-license-v1"

    /// The whole license as YAML, signed with the app's key (see `LicenseDocument.signedBytes`).
    public func document(for license: License, licenseType: String, channel: String) async throws -> String {
        let fields = try await fields(for: license)
        let spec: [(String, String)] = [("app", license.appSlug), ("channel", channel), ("customerID", license.customerID),
                                        ("customerName", license.customerName), ("licenseType", licenseType)]
        let bytes = LicenseDocument.signedBytes(spec: spec, fields: fields.map { ($0.definition.name, $0.value) })
        // Kept like a field's signature (under a name no field can have), so the same license is
        // the same document, and the charts it is injected into keep their digests.
        let signedDigest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        var signature = try await store.fieldSignature(customerID: license.customerID, name: Self.documentEntry, value: signedDigest)
        if signature == nil {
            let fresh = try await privateKey(appID: license.appID).signature(for: SHA256.hash(data: bytes), padding: .PSS)
            signature = try await store.keepFieldSignature(customerID: license.customerID, name: Self.documentEntry, value: signedDigest,
                                                           signature: fresh.rawRepresentation.base64EncodedString())
        }
        func quoted(_ s: String) -> String { "\"" + s.unicodeScalars.map { c -> String in
            switch c {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case "\n": return "\\n"
            default: return c.value < 0x20 ? String(format: "\\u%04x", c.value) : String(c)
            }
        }.joined() + "\"" }
        var lines = ["apiVersion: portcullis.dev/v1", "kind: License", "spec:"]
        lines += spec.map { "  \($0.0): \(quoted($0.1))" }
        lines.append("  fields:")
        for field in fields {
            lines.append("    \(field.definition.name):")
            lines.append("      value: \(quoted(field.value))")
            lines.append("      valueType: \(field.definition.type.valueType)")
        }
        lines.append("signature:")
        lines.append("  v1: \(quoted(signature ?? ""))")
        return lines.joined(separator: "\n") + "\n"
    }
}
