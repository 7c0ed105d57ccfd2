import Foundation
import Licensing
import SQLKit

extension SQLMetadataStore {
    public func createLicenseField(appID: String, _ f: LicenseFieldDefinition) async throws {
        do {
            try await db.raw("""
                INSERT INTO license_fields (app_id, name, title, description, type, default_value, hidden, created_at)
                VALUES (\(bind: appID), \(bind: f.name), \(bind: f.title), \(bind: f.description), \(bind: f.type.rawValue),
                        \(bind: f.defaultValue), \(bind: Int64(f.hidden ? 1 : 0)), \(bind: Date().millis))
                """).run()
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.conflict("the app already has a license field named \(f.name)")
        }
    }

    public func licenseFields(appID: String) async throws -> [LicenseFieldDefinition] {
        try await db.raw("SELECT * FROM license_fields WHERE app_id = \(bind: appID) ORDER BY created_at, name").all().map { row in
            LicenseFieldDefinition(name: try row.decode(column: "name", as: String.self), title: try row.decode(column: "title", as: String.self),
                                   description: try row.decode(column: "description", as: String.self),
                                   type: LicenseFieldType(rawValue: try row.decode(column: "type", as: String.self)) ?? .string,
                                   defaultValue: try row.decode(column: "default_value", as: String?.self),
                                   hidden: try row.decode(column: "hidden", as: Int64.self) != 0)
        }
    }

    public func deleteLicenseField(appID: String, name: String) async throws -> Bool {
        let existed = try await db.raw("SELECT name FROM license_fields WHERE app_id = \(bind: appID) AND name = \(bind: name)").first() != nil
        try await db.raw("DELETE FROM license_fields WHERE app_id = \(bind: appID) AND name = \(bind: name)").run()
        return existed
    }

    public func fieldValues(customerID: String) async throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try await db.raw("SELECT name, value FROM customer_field_values WHERE customer_id = \(bind: customerID)").all() {
            out[try row.decode(column: "name", as: String.self)] = try row.decode(column: "value", as: String.self)
        }
        return out
    }

    public func setFieldValues(customerID: String, _ values: [String: String]) async throws {
        for (name, value) in values {
            try await db.raw("""
                INSERT INTO customer_field_values (customer_id, name, value) VALUES (\(bind: customerID), \(bind: name), \(bind: value))
                ON CONFLICT (customer_id, name) DO UPDATE SET value = excluded.value
                """).run()
        }
    }

    public func fieldSignature(customerID: String, name: String, value: String) async throws -> String? {
        try await db.raw("""
            SELECT signature FROM license_field_signatures
            WHERE customer_id = \(bind: customerID) AND name = \(bind: name) AND value = \(bind: value)
            """).first().map { try $0.decode(column: "signature", as: String.self) }
    }

    public func keepFieldSignature(customerID: String, name: String, value: String, signature: String) async throws -> String {
        try await db.raw("""
            INSERT INTO license_field_signatures (customer_id, name, value, signature) VALUES (\(bind: customerID), \(bind: name), \(bind: value), \(bind: signature))
            ON CONFLICT (customer_id, name, value) DO NOTHING
            """).run()
        return try await fieldSignature(customerID: customerID, name: name, value: value) ?? signature
    }

    public func appSigningKey(appID: String) async throws -> String? {
        try await db.raw("SELECT sealed_pem FROM app_signing_keys WHERE app_id = \(bind: appID)").first()
            .map { try $0.decode(column: "sealed_pem", as: String.self) }
    }

    public func createAppSigningKey(appID: String, sealedPEM: String) async throws -> String {
        try await db.raw("""
            INSERT INTO app_signing_keys (app_id, sealed_pem, created_at) VALUES (\(bind: appID), \(bind: sealedPEM), \(bind: Date().millis))
            ON CONFLICT (app_id) DO NOTHING
            """).run()
        return try await appSigningKey(appID: appID) ?? sealedPEM
    }
}
