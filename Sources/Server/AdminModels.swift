import Foundation
import Licensing
import Storage

/// JSON shapes of the admin API. Secrets go in, never out (except a license ID, which
/// the vendor hands to its customer).
struct AppBody: Codable {
    var id: String
    var slug: String
    var name: String
    var createdAt: Date

    init(_ r: AppRecord) {
        id = r.id
        slug = r.slug
        name = r.name
        createdAt = r.createdAt
    }
}

struct CreateAppRequest: Decodable {
    var slug: String
    var name: String?
}

struct RegistryBody: Codable {
    var name: String
    var provider: String
    var endpoint: String
    var username: String?
    var authType: String
    /// App slugs; empty means every app.
    var apps: [String]
    var createdAt: Date
}

struct CreateRegistryRequest: Decodable {
    var provider: String
    var endpoint: String?
    var name: String?
    var username: String?
    /// Password or token; stored sealed.
    var secret: String?
    var authType: String?
    var apps: [String]?
}

struct TestRegistryRequest: Decodable {
    var image: String
}

struct TestRegistryResult: Codable {
    /// `ok`, `auth failed`, `not found` or `unreachable`.
    var result: String
    var message: String
}

struct CustomerBody: Codable {
    var id: String
    var app: String
    var name: String
    var email: String?
    var channel: String
    var type: String
    var expiresAt: Date?
    var archived: Bool
    var helmInstall: Bool
    var status: String
    var licenseId: String
    var createdAt: Date
    var updatedAt: Date
}

struct CreateCustomerRequest: Decodable {
    var app: String
    var name: String
    var email: String?
    var channel: String?
    var type: String?
    var expiresAt: Date?
    var helmInstall: Bool?
}

struct UpdateCustomerRequest: Decodable {
    var name: String?
    var email: String?
    var channel: String?
    var type: String?
    var expiresAt: Date?
    /// Removes the expiry altogether.
    var clearExpiry: Bool?
    var archived: Bool?
    var helmInstall: Bool?
}

struct PullSecretBody: Codable {
    var host: String
    var dockerconfigjson: String
    var base64: String
}
