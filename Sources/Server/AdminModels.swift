import Foundation
import Hosting
import ImageTooling
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

struct CreateTokenRequest: Decodable {
    var name: String
    var scope: String?
}

struct TokenBody: Codable {
    var id: String
    var name: String
    var scope: String
    /// Only in the answer to create: the token is not stored in a readable form.
    var token: String?
    var createdAt: Date

    init(_ r: VendorTokenRecord, token: String?) {
        id = r.id
        name = r.name
        scope = r.scope.rawValue
        self.token = token
        createdAt = r.createdAt
    }
}

struct ChannelBody: Codable {
    var id: String
    var app: String
    var name: String
    var slug: String
    var createdAt: Date

    init(_ r: ChannelRecord, app: AppRecord) {
        id = r.id
        self.app = app.slug
        name = r.name
        slug = r.slug
        createdAt = r.createdAt
    }
}

struct CreateChannelRequest: Decodable {
    var name: String
}

struct CreateReleaseRequest: Decodable {
    var version: String
    /// Chart archives (.tgz), base64.
    var charts: [String]
    var promote: String?
    var releaseNotes: String?
    /// Refuse the release when `chart lint` finds errors.
    var lint: Bool?
    /// Host images must use when linting (default: this server's public host).
    var proxyHost: String?
}

struct LintRequest: Decodable {
    /// A chart archive (.tgz), base64.
    var chart: String
    var name: String?
    var proxyHost: String?
}

struct LintResult: Encodable {
    var findings: [LintFinding]
}

struct FindImagesRequest: Decodable {
    var yaml: String
    /// `manifests` (default) or `values`.
    var kind: String?
    var name: String?
}

struct FoundImage: Encodable {
    var file: String
    var line: Int
    var image: String
    var context: String
}

struct PromoteRequest: Decodable {
    var channel: String
    var version: String
    var releaseNotes: String?
}

struct ReleaseBody: Codable {
    struct Chart: Codable {
        var name: String
        var version: String
        var digest: String
    }

    var sequence: Int
    var version: String
    var releaseNotes: String?
    var createdAt: Date
    var editedAt: Date?
    var activeChannels: [String]
    var charts: [Chart]

    init(_ s: ReleaseSummary) {
        sequence = s.release.sequence
        version = s.release.version
        releaseNotes = s.release.notes
        createdAt = s.release.createdAt
        editedAt = s.release.editedAt
        activeChannels = s.activeChannels
        charts = s.charts.map { Chart(name: $0.name, version: $0.version, digest: $0.digest.description) }
    }
}
