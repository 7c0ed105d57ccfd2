import Foundation

public struct CreateDomainRequest: Codable, Sendable {
    /// A host name, e.g. `registry.acme.example`.
    public var name: String
    /// The app slug the domain serves.
    public var app: String
    /// PEM certificate chain served for the name (optional: TLS may end in front of Portcullis).
    public var certificate: String?
    /// PEM private key of the certificate; stored sealed, never returned.
    public var key: String?

    public init(name: String, app: String, certificate: String? = nil, key: String? = nil) {
        self.name = name
        self.app = app
        self.certificate = certificate
        self.key = key
    }
}

public struct DomainBody: Codable, Sendable, Equatable {
    public var name: String
    public var app: String
    /// When the domain's own certificate runs out; nil when it has none.
    public var certificateExpiresAt: Date?
    public var createdAt: Date

    public init(name: String, app: String, certificateExpiresAt: Date?, createdAt: Date) {
        self.name = name
        self.app = app
        self.certificateExpiresAt = certificateExpiresAt
        self.createdAt = createdAt
    }
}
