import Crypto
import CryptoExtras
import Foundation
import Licensing
import PortcullisAPI
import Yams
import YAMLSafety

/// A signed license document, checked: what it says, signed by the app's key.
public struct VerifiedLicense: Sendable, Equatable {
    /// `app`, `channel`, `customerID`, `customerName`, `licenseType`.
    public var spec: [String: String]
    /// Field name → canonical value, as the document signs them.
    public var fields: [String: String]

    public var appSlug: String { spec["app"] ?? "" }
    public var customerID: String { spec["customerID"] ?? "" }
    /// `expires_at`, when the license has one.
    public var expiresAt: Date? { fields["expires_at"].flatMap { ISO8601DateFormatter().date(from: $0) } }
}

/// Checks what the registry and Portcullis send against the app's public key, so a value
/// edited in the chart's values (or answered by something posing as Portcullis) is never
/// reported as the license's. The signed forms are `LicenseDocument` and `SignedLicenseField`.
public struct LicenseVerifier: Sendable {
    let key: _RSA.Signing.PublicKey

    public struct Refused: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(publicKeyPEM: String) throws(Refused) {
        do { key = try _RSA.Signing.PublicKey(pemRepresentation: publicKeyPEM) } catch {
            throw Refused(description: "the public key is not a PEM RSA public key")
        }
    }

    /// The document's contents when its signature is the app key's.
    public func document(_ text: String) throws(Refused) -> VerifiedLicense {
        let root: [String: Any]
        do {
            guard let node = try YAMLBudget.compose(text), let mapping = Constructor.default.any(from: node) as? [String: Any] else {
                throw Refused(description: "the license document is not a YAML mapping")
            }
            root = mapping
        } catch let error as Refused {
            throw error
        } catch {
            throw Refused(description: "the license document is not valid YAML")
        }
        guard let spec = root["spec"] as? [String: Any], let signature = (root["signature"] as? [String: Any])?["v1"] as? String else {
            throw Refused(description: "the license document has no spec or no signature")
        }
        var entries: [String: String] = [:]
        for (key, value) in spec where key != "fields" { entries[key] = Self.text(value) }
        var fields: [String: String] = [:]
        for (name, raw) in spec["fields"] as? [String: Any] ?? [:] {
            fields[name] = Self.text((raw as? [String: Any])?["value"])
        }
        let bytes = LicenseDocument.signedBytes(spec: entries.map { ($0.key, $0.value) }, fields: fields.map { ($0.key, $0.value) })
        guard isValid(signature, for: bytes) else { throw Refused(description: "the license document's signature is not the app's") }
        return VerifiedLicense(spec: entries, fields: fields)
    }

    /// Whether a field's value is the one the app's key signed for this app and customer.
    public func isValid(_ field: LicenseFieldValueBody, app: String, customerID: String) -> Bool {
        let bytes = SignedLicenseField.signedBytes(app: app, customerID: customerID, name: field.name, value: Self.canonical(field.value))
        return isValid(field.signature.v1, for: bytes)
    }

    func isValid(_ signature: String, for bytes: [UInt8]) -> Bool {
        guard let raw = Data(base64Encoded: signature) else { return false }
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: raw), for: SHA256.hash(data: bytes), padding: .PSS)
    }

    /// The text a value is signed as: `25`, `true`, an RFC 3339 time, the string itself.
    static func canonical(_ value: JSONScalar) -> String {
        switch value {
        case .number(let d) where d == d.rounded(): String(Int(d))
        default: value.description
        }
    }

    static func text(_ value: Any?) -> String {
        switch value {
        case let s as String: s
        case let i as Int: String(i)
        case let b as Bool: b ? "true" : "false"
        case let d as Date: ISO8601DateFormatter().string(from: d)
        case let d as Double: String(d)
        default: ""
        }
    }
}
