import Foundation
import Licensing
import Storage

extension ControlPlane {
    public func createLicenseField(app slug: String, _ field: LicenseFieldDefinition) async throws -> LicenseFieldDefinition {
        let app = try await app(slug: slug)
        guard LicenseFieldDefinition.isValidName(field.name) else {
            throw ControlPlaneError.invalid("invalid field name \(field.name.debugDescription): lowercase letters, digits and _, "
                                            + "starting with a letter (expires_at is built in)")
        }
        var field = field
        if let value = field.defaultValue {
            guard let canonical = field.type.canonical(value) else {
                throw ControlPlaneError.invalid("default \(value.debugDescription) is not a \(field.type.rawValue)")
            }
            field.defaultValue = canonical
        }
        if field.title.isEmpty { field.title = field.name }
        try await normalized { try await store.createLicenseField(appID: app.id, field) }
        recipients?.forgetAll()
        return field
    }

    public func licenseFieldList(app slug: String) async throws -> [LicenseFieldDefinition] {
        try await store.licenseFields(appID: try await app(slug: slug).id)
    }

    public func removeLicenseField(app slug: String, name: String) async throws {
        recipients?.forgetAll()
        guard try await store.deleteLicenseField(appID: try await app(slug: slug).id, name: name) else {
            throw ControlPlaneError.notFound("license field \(name) not found")
        }
    }

    /// Checks values against the app's fields: known names, values of the field's type.
    public func validateFields(app slug: String, _ values: [String: String]) async throws -> [String: String] {
        let definitions = try await licenseFieldList(app: slug)
        var canonical: [String: String] = [:]
        for (name, value) in values {
            guard let definition = definitions.first(where: { $0.name == name }) else {
                throw ControlPlaneError.invalid("the app has no license field \(name.debugDescription)")
            }
            guard let text = definition.type.canonical(value) else {
                throw ControlPlaneError.invalid("\(name)=\(value.debugDescription) is not a \(definition.type.rawValue)")
            }
            canonical[name] = text
        }
        return canonical
    }

    /// Sets a customer's field values; the next chart the customer pulls carries them.
    public func setCustomerFields(customerID: String, _ values: [String: String]) async throws {
        let view = try await customer(id: customerID)
        let canonical = try await validateFields(app: view.app.slug, values)
        try await store.setFieldValues(customerID: view.customer.id, canonical)
        recipients?.forget(customerID: view.customer.id)
    }

    public func customerFields(customerID: String) async throws -> [String: String] {
        try await store.fieldValues(customerID: customerID)
    }

    /// The PEM public key that verifies the app's license field signatures.
    public func appPublicKey(app slug: String) async throws -> String {
        guard let licenseFields else { throw ControlPlaneError.invalid("this server signs no license fields") }
        return try await licenseFields.publicKeyPEM(appID: try await app(slug: slug).id)
    }

    /// The customer's license as a signed YAML document.
    public func licenseDocument(customerID: String) async throws -> String {
        guard let licenseFields else { throw ControlPlaneError.invalid("this server signs no licenses") }
        let view = try await customer(id: customerID)
        return try await licenseFields.document(for: view.customer.license(appSlug: view.app.slug), licenseType: view.customer.type.rawValue,
                                                channel: view.customer.channel)
    }
}
