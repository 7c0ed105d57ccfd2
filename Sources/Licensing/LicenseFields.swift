import Foundation

/// The type of a license field, as charts see it in `valueType`.
public enum LicenseFieldType: String, CaseIterable, Sendable {
    case integer, string, boolean, text

    public var valueType: String {
        switch self {
        case .integer: "Integer"
        case .string: "String"
        case .boolean: "Boolean"
        case .text: "Text"
        }
    }

    /// The canonical text of `raw` as this type (what is stored and signed), or nil when it is not one.
    public func canonical(_ raw: String) -> String? {
        switch self {
        case .integer: Int(raw.trimmingCharacters(in: .whitespaces)).map(String.init)
        case .boolean:
            switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "yes", "1": "true"
            case "false", "no", "0": "false"
            default: nil
            }
        case .string, .text: raw
        }
    }
}

/// A field a vendor defines for an app's licenses (seats, a feature switch, a support tier).
public struct LicenseFieldDefinition: Sendable, Equatable {
    public var name: String
    public var title: String
    public var description: String
    public var type: LicenseFieldType
    /// Canonical text; nil: fields without a value for a customer are left out.
    public var defaultValue: String?
    public var hidden: Bool

    public init(name: String, title: String, description: String, type: LicenseFieldType, defaultValue: String?, hidden: Bool) {
        self.name = name
        self.title = title
        self.description = description
        self.type = type
        self.defaultValue = defaultValue
        self.hidden = hidden
    }

    /// `expires_at`, which every license has.
    public static let expiresAt = LicenseFieldDefinition(name: "expires_at", title: "Expiration", description: "License Expiration",
                                                         type: .string, defaultValue: nil, hidden: false)

    /// Lowercase letters, digits and `_`, starting with a letter; not a built-in name.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter, first.isLowercase, name.count <= 64 else { return false }
        return name.allSatisfy { ($0.isLowercase && $0.isLetter) || $0.isNumber || $0 == "_" } && name != expiresAt.name
    }
}

/// One field of a customer's license, with its value and signature, as charts receive it under
/// `global.replicated.licenseFields.<name>`.
public struct SignedLicenseField: Sendable, Equatable {
    public var definition: LicenseFieldDefinition
    /// Canonical text of the value.
    public var value: String
    /// Base64 RSA-PSS (SHA-256, MGF1-SHA256, 32-byte salt) signature of `signedBytes`.
    public var signature: String

    public init(definition: LicenseFieldDefinition, value: String, signature: String) {
        self.definition = definition
        self.value = value
        self.signature = signature
    }

    /// What `signature.v1` signs: the UTF-8 bytes of these five lines joined by `\n`:
    /// `portcullis-license-field-v1`, the app slug, the customer ID, the field name, the value's
    /// canonical text (`25`, `true`, an RFC 3339 time or the string itself).
    public static func signedBytes(app: String, customerID: String, name: String, value: String) -> [UInt8] {
        Array(["portcullis-license-field-v1", app, customerID, name, value].joined(separator: "\n").utf8)
    }
}

/// A license as one signed document (`customer download-license`), for applications that check
/// entitlements offline.
public enum LicenseDocument {
    /// What `signature.v1` signs: the UTF-8 bytes of `portcullis-license-v1` followed by one
    /// line per entry, `key=value`, the `spec` entries sorted by key and then `field.<name>=<value>`
    /// for every field sorted by name, values in their canonical text, joined by `\n`.
    public static func signedBytes(spec: [(String, String)], fields: [(String, String)]) -> [UInt8] {
        let lines = ["portcullis-license-v1"] + spec.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }
            + fields.sorted { $0.0 < $1.0 }.map { "field.\($0.0)=\($0.1)" }
        return Array(lines.joined(separator: "\n").utf8)
    }
}
