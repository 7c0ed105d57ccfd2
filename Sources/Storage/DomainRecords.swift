import Foundation

/// A custom domain an app's customers pull from, with the certificate served for it (if any).
public struct DomainRecord: Sendable, Equatable {
    /// Lowercased host name, without a port.
    public var name: String
    public var appID: String
    /// Read with the record (joined from the app), for routing requests without another lookup.
    public var appSlug: String
    public var certificatePEM: String?
    /// The private key, sealed with the secret key.
    public var sealedKey: String?
    public var createdAt: Date

    public init(name: String, appID: String, appSlug: String, certificatePEM: String?, sealedKey: String?, createdAt: Date = Date()) {
        self.name = name
        self.appID = appID
        self.appSlug = appSlug
        self.certificatePEM = certificatePEM
        self.sealedKey = sealedKey
        self.createdAt = createdAt
    }
}

public protocol DomainStore: Sendable {
    /// Throws `StoreError.conflict` when the name is taken.
    func createDomain(_ domain: DomainRecord) async throws
    func domains() async throws -> [DomainRecord]
    func deleteDomain(name: String) async throws -> Bool
}

/// Vendor repositories (`<app>/<repo>`) anyone may pull without a license.
public protocol PublicRepositoryStore: Sendable {
    func setPublic(_ repository: String, _ isPublic: Bool) async throws
    func isPublic(_ repository: String) async throws -> Bool
    func publicRepositories() async throws -> [String]
}
