import Foundation
import Licensing

public protocol LicenseFieldStore: Sendable {
    /// Throws `StoreError.conflict` when the app already has a field of that name.
    func createLicenseField(appID: String, _ field: LicenseFieldDefinition) async throws
    func licenseFields(appID: String) async throws -> [LicenseFieldDefinition]
    func deleteLicenseField(appID: String, name: String) async throws -> Bool
    /// A customer's values by field name (canonical text).
    func fieldValues(customerID: String) async throws -> [String: String]
    func setFieldValues(customerID: String, _ values: [String: String]) async throws
    /// The signature kept for a field value (RSA-PSS is randomized: keeping the first one keeps a
    /// customer's chart digests stable across pulls and replicas).
    func fieldSignature(customerID: String, name: String, value: String) async throws -> String?
    /// Keeps `signature` unless one is kept already; returns the one that counts.
    func keepFieldSignature(customerID: String, name: String, value: String, signature: String) async throws -> String
    /// The app's sealed RSA private key (PEM), if it has one.
    func appSigningKey(appID: String) async throws -> String?
    /// Stores the key unless another replica already did; returns the one that counts.
    func createAppSigningKey(appID: String, sealedPEM: String) async throws -> String
}
