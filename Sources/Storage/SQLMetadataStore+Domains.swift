import Foundation
import SQLKit

extension SQLMetadataStore {
    public func createDomain(_ d: DomainRecord) async throws {
        do {
            try await db.raw("""
                INSERT INTO domains (name, app_id, certificate_pem, sealed_key, created_at)
                VALUES (\(bind: d.name), \(bind: d.appID), \(bind: d.certificatePEM), \(bind: d.sealedKey), \(bind: d.createdAt.millis))
                """).run()
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.conflict("domain \(d.name) is already taken")
        }
    }

    public func domains() async throws -> [DomainRecord] {
        try await db.raw("""
            SELECT d.name, d.app_id, a.slug AS app_slug, d.certificate_pem, d.sealed_key, d.created_at
            FROM domains d JOIN apps a ON a.id = d.app_id ORDER BY d.name
            """).all().map { row in
            DomainRecord(name: try row.decode(column: "name", as: String.self), appID: try row.decode(column: "app_id", as: String.self),
                         appSlug: try row.decode(column: "app_slug", as: String.self),
                         certificatePEM: try row.decode(column: "certificate_pem", as: String?.self),
                         sealedKey: try row.decode(column: "sealed_key", as: String?.self),
                         createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    public func deleteDomain(name: String) async throws -> Bool {
        let existed = try await db.raw("SELECT name FROM domains WHERE name = \(bind: name)").first() != nil
        try await db.raw("DELETE FROM domains WHERE name = \(bind: name)").run()
        return existed
    }
}

extension SQLMetadataStore {
    public func setPublic(_ repository: String, _ isPublic: Bool) async throws {
        if isPublic {
            try await db.raw("""
                INSERT INTO public_repositories (name, created_at) VALUES (\(bind: repository), \(bind: Date().millis))
                ON CONFLICT (name) DO NOTHING
                """).run()
        } else {
            try await db.raw("DELETE FROM public_repositories WHERE name = \(bind: repository)").run()
        }
    }

    public func isPublic(_ repository: String) async throws -> Bool {
        try await db.raw("SELECT name FROM public_repositories WHERE name = \(bind: repository)").first() != nil
    }

    public func publicRepositories() async throws -> [String] {
        try await db.raw("SELECT name FROM public_repositories ORDER BY name").all().map { try $0.decode(column: "name", as: String.self) }
    }
}
