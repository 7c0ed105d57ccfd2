import Foundation
import PortcullisAPI

/// Where the license the SDK answers with came from.
public enum LicenseSource: String, Codable, Sendable {
    /// Fetched from Portcullis for this answer, or for one moments before (`LicenseRefreshSchedule`).
    case portcullis
    /// The last copy Portcullis gave, kept in the state directory (Portcullis unreachable now).
    case cache
    /// The document injected into the chart when it was pulled (air-gapped, or never fetched).
    case injected
}

/// `GET /api/v1/license/info`.
public struct LicenseInfoBody: Codable, Sendable, Equatable {
    public var licenseID: String
    public var appSlug: String
    public var appName: String
    public var customerID: String
    public var customerName: String
    public var customerEmail: String?
    public var channelID: String
    public var channelName: String
    public var licenseType: String
    public var expiresAt: Date?
    /// `active`, `expired` or `archived`.
    public var status: String
    public var isExpired: Bool
    public var source: LicenseSource
}

/// What the SDK says about the license, worked out from what it has: the document injected at
/// install (checked once at start), and the latest answer from Portcullis, if any. Fields whose
/// signatures do not verify are never answered as the license's; an answer from Portcullis for
/// another license is ignored; a license past its expiry is expired whatever a copy says. What
/// the signed document says (customer, channel, type, expiry) is taken from it, never from the
/// unsigned answer around it, which anyone who can write the state directory can edit.
public struct LicenseStatement: Sendable, Equatable {
    public var info: LicenseInfoBody
    /// Fields whose signatures verify.
    public var fields: [String: LicenseFieldValueBody]
    /// Fields present whose signatures do not.
    public var tampered: Set<String>

    public static func compose(_ configuration: SDKConfiguration, injected: VerifiedLicense, verifier: LicenseVerifier,
                               latest: (body: SDKLicenseBody, source: LicenseSource)?, now: Date) -> LicenseStatement {
        var info: LicenseInfoBody
        var fields: [String: LicenseFieldValueBody]
        if let (body, source) = latest, let fetched = try? verifier.document(body.document),
           fetched.customerID == injected.customerID, fetched.appSlug == injected.appSlug {
            let expiresAt = fetched.expiresAt
            let expired = body.status == "expired" || expiresAt.map { $0 <= now } == true
            let status = body.status == "archived" ? "archived" : expired ? "expired" : "active"
            info = LicenseInfoBody(licenseID: configuration.licenseID, appSlug: fetched.appSlug, appName: body.appName,
                                   customerID: fetched.customerID, customerName: fetched.spec["customerName"] ?? "",
                                   customerEmail: body.customerEmail, channelID: body.channelID ?? configuration.channelID,
                                   channelName: fetched.spec["channel"] ?? "", licenseType: fetched.spec["licenseType"] ?? "",
                                   expiresAt: expiresAt, status: status, isExpired: status == "expired", source: source)
            fields = body.fields
        } else {
            let expiresAt = injected.expiresAt
            let expired = expiresAt.map { $0 <= now } == true
            info = LicenseInfoBody(licenseID: configuration.licenseID, appSlug: injected.appSlug, appName: configuration.appName,
                                   customerID: injected.customerID, customerName: injected.spec["customerName"] ?? "", customerEmail: nil,
                                   channelID: configuration.channelID, channelName: injected.spec["channel"] ?? configuration.channelName,
                                   licenseType: injected.spec["licenseType"] ?? "", expiresAt: expiresAt,
                                   status: expired ? "expired" : "active", isExpired: expired, source: .injected)
            fields = configuration.licenseFields
        }
        var verified: [String: LicenseFieldValueBody] = [:]
        var tampered: Set<String> = []
        for (name, field) in fields {
            if field.name == name, Self.valueMatchesItsType(field), verifier.isValid(field, app: injected.appSlug, customerID: injected.customerID) {
                verified[name] = field
            } else {
                tampered.insert(name)
            }
        }
        return LicenseStatement(info: info, fields: verified, tampered: tampered)
    }

    /// The signature covers a value's text, not its JSON type: `false` edited into the string
    /// `"false"` verifies, and reads as true to an application that tests the value. A value is
    /// answered only in the JSON type its `valueType` says.
    static func valueMatchesItsType(_ field: LicenseFieldValueBody) -> Bool {
        switch (field.valueType, field.value) {
        case ("Integer", .integer), ("Boolean", .boolean), ("String", .string), ("Text", .string): true
        default: false
        }
    }
}
