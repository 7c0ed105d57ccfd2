import Foundation
import Licensing
import Logging
import OCI
import SQLKit

/// The metadata store over SQLKit. The SQL is kept to what SQLite and PostgreSQL both
/// accept (TEXT/BIGINT columns, `ON CONFLICT`), so the same code serves both backends.
public final class SQLMetadataStore: MetadataStore {
    let db: any SQLDatabase
    private let onClose: @Sendable () async throws -> Void

    public init(database: any SQLDatabase, onClose: @escaping @Sendable () async throws -> Void = {}) {
        self.db = CountingSQLDatabase(base: database)
        self.onClose = onClose
    }

    public func close() async throws { try await onClose() }

    public func migrate() async throws {
        try await SchemaMigrations.apply(to: db)
    }

    /// Brings a database (or one connection to it) to the current schema.
    public static func migrate(_ database: any SQLDatabase) async throws {
        try await SchemaMigrations.apply(to: database)
    }

    // MARK: Apps

    public func createApp(_ app: AppRecord) async throws {
        do {
            try await db.raw("""
                INSERT INTO apps (id, slug, name, created_at)
                VALUES (\(bind: app.id), \(bind: app.slug), \(bind: app.name), \(bind: app.createdAt.millis))
                """).run()
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.conflict("app \(app.slug) already exists")
        }
    }

    public func apps() async throws -> [AppRecord] {
        try await db.raw("SELECT id, slug, name, created_at FROM apps ORDER BY slug").all().map(Self.app)
    }

    public func app(slug: String) async throws -> AppRecord? {
        try await db.raw("SELECT id, slug, name, created_at FROM apps WHERE slug = \(bind: slug)").first().map(Self.app)
    }

    public func app(id: String) async throws -> AppRecord? {
        try await db.raw("SELECT id, slug, name, created_at FROM apps WHERE id = \(bind: id)").first().map(Self.app)
    }

    static func app(_ row: any SQLRow) throws -> AppRecord {
        AppRecord(id: try row.decode(column: "id", as: String.self),
                  slug: try row.decode(column: "slug", as: String.self),
                  name: try row.decode(column: "name", as: String.self),
                  createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
    }

    // MARK: Registries

    public func createRegistry(_ r: RegistryRecord) async throws {
        do {
            try await db.raw("""
                INSERT INTO registries (id, name, provider, endpoint, host, username, sealed_secret, auth_type, region,
                                        allowed_repositories, anonymous_pull, token_realms, created_at)
                VALUES (\(bind: r.id), \(bind: r.name), \(bind: r.provider), \(bind: r.endpoint), \(bind: r.host),
                        \(bind: r.username), \(bind: r.sealedSecret), \(bind: r.authType), \(bind: r.region),
                        \(bind: r.allowedRepositories.isEmpty ? nil : r.allowedRepositories.joined(separator: "\n")),
                        \(bind: Int64(r.anonymousPull ? 1 : 0)), \(bind: r.tokenRealms.isEmpty ? nil : r.tokenRealms.joined(separator: "\n")),
                        \(bind: r.createdAt.millis))
                """).run()
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.conflict("registry \(r.name) already exists")
        }
        for appID in r.appIDs {
            try await db.raw("INSERT INTO registry_apps (registry_id, app_id) VALUES (\(bind: r.id), \(bind: appID))").run()
        }
    }

    public func registries() async throws -> [RegistryRecord] {
        let rows = try await db.raw("SELECT * FROM registries ORDER BY name").all()
        let links = try await db.raw("SELECT registry_id, app_id FROM registry_apps").all()
        var apps: [String: [String]] = [:]
        for link in links {
            apps[try link.decode(column: "registry_id", as: String.self), default: []]
                .append(try link.decode(column: "app_id", as: String.self))
        }
        return try rows.map { row in
            var r = try Self.registry(row)
            r.appIDs = apps[r.id, default: []].sorted()
            return r
        }
    }

    public func registry(name: String) async throws -> RegistryRecord? {
        guard let row = try await db.raw("SELECT * FROM registries WHERE name = \(bind: name)").first() else { return nil }
        var r = try Self.registry(row)
        r.appIDs = try await db.raw("SELECT app_id FROM registry_apps WHERE registry_id = \(bind: r.id) ORDER BY app_id")
            .all().map { try $0.decode(column: "app_id", as: String.self) }
        return r
    }

    public func updateRegistryLogin(name: String, username: String?, sealedSecret: String?, authType: String) async throws -> Bool {
        guard try await registry(name: name) != nil else { return false }
        try await db.raw("""
            UPDATE registries SET username = \(bind: username), sealed_secret = \(bind: sealedSecret), auth_type = \(bind: authType)
            WHERE name = \(bind: name)
            """).run()
        return true
    }

    public func deleteRegistry(name: String) async throws -> Bool {
        guard let r = try await registry(name: name) else { return false }
        try await db.raw("DELETE FROM registry_apps WHERE registry_id = \(bind: r.id)").run()
        try await db.raw("DELETE FROM registries WHERE id = \(bind: r.id)").run()
        return true
    }

    static func registry(_ row: any SQLRow) throws -> RegistryRecord {
        RegistryRecord(id: try row.decode(column: "id", as: String.self),
                       name: try row.decode(column: "name", as: String.self),
                       provider: try row.decode(column: "provider", as: String.self),
                       endpoint: try row.decode(column: "endpoint", as: String.self),
                       host: try row.decode(column: "host", as: String.self),
                       username: try row.decode(column: "username", as: String?.self),
                       sealedSecret: try row.decode(column: "sealed_secret", as: String?.self),
                       authType: try row.decode(column: "auth_type", as: String.self),
                       region: try row.decode(column: "region", as: String?.self),
                       allowedRepositories: try row.decode(column: "allowed_repositories", as: String?.self)
                           .map { $0.split(separator: "\n").map(String.init) } ?? [],
                       anonymousPull: try row.decode(column: "anonymous_pull", as: Int64.self) != 0,
                       appIDs: [],
                       tokenRealms: try row.decode(column: "token_realms", as: String?.self).map { $0.split(separator: "\n").map(String.init) } ?? [],
                       createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
    }

    // MARK: Customers

    public func createCustomer(_ c: CustomerRecord) async throws {
        try await db.raw("""
            INSERT INTO customers (id, app_id, name, email, channel, license_type, expires_at, archived, helm_install,
                                   license_hash, sealed_license, created_at, updated_at)
            VALUES (\(bind: c.id), \(bind: c.appID), \(bind: c.name), \(bind: c.email), \(bind: c.channel),
                    \(bind: c.type.rawValue), \(bind: c.expiresAt?.millis), \(bind: c.archived ? 1 : 0),
                    \(bind: c.helmInstall ? 1 : 0), \(bind: c.licenseHash), \(bind: c.sealedLicense),
                    \(bind: c.createdAt.millis), \(bind: c.updatedAt.millis))
            """).run()
    }

    public func customers(appID: String?) async throws -> [CustomerRecord] {
        if let appID {
            return try await db.raw("SELECT * FROM customers WHERE app_id = \(bind: appID) ORDER BY created_at, id").all().map(Self.customer)
        }
        return try await db.raw("SELECT * FROM customers ORDER BY created_at, id").all().map(Self.customer)
    }

    public func customer(id: String) async throws -> CustomerRecord? {
        try await db.raw("SELECT * FROM customers WHERE id = \(bind: id)").first().map(Self.customer)
    }

    public func customer(licenseHash: String) async throws -> CustomerRecord? {
        try await db.raw("SELECT * FROM customers WHERE license_hash = \(bind: licenseHash)").first().map(Self.customer)
    }

    public func updateCustomer(_ c: CustomerRecord) async throws {
        try await db.raw("""
            UPDATE customers SET name = \(bind: c.name), email = \(bind: c.email), channel = \(bind: c.channel),
                license_type = \(bind: c.type.rawValue), expires_at = \(bind: c.expiresAt?.millis),
                archived = \(bind: c.archived ? 1 : 0), helm_install = \(bind: c.helmInstall ? 1 : 0),
                updated_at = \(bind: c.updatedAt.millis)
            WHERE id = \(bind: c.id)
            """).run()
    }

    static func customer(_ row: any SQLRow) throws -> CustomerRecord {
        CustomerRecord(id: try row.decode(column: "id", as: String.self),
                       appID: try row.decode(column: "app_id", as: String.self),
                       name: try row.decode(column: "name", as: String.self),
                       email: try row.decode(column: "email", as: String?.self),
                       channel: try row.decode(column: "channel", as: String.self),
                       type: LicenseType(rawValue: try row.decode(column: "license_type", as: String.self)) ?? .dev,
                       expiresAt: try row.decode(column: "expires_at", as: Int64?.self).map(Date.init(millis:)),
                       archived: try row.decode(column: "archived", as: Int64.self) != 0,
                       helmInstall: try row.decode(column: "helm_install", as: Int64.self) != 0,
                       licenseHash: try row.decode(column: "license_hash", as: String.self),
                       sealedLicense: try row.decode(column: "sealed_license", as: String.self),
                       createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                       updatedAt: Date(millis: try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Proxy index

    public func tag(registryID: String, repository: String, tag: String) async throws -> CachedTag? {
        guard let row = try await db.raw("""
            SELECT digest, checked_at FROM proxy_tags
            WHERE registry_id = \(bind: registryID) AND repository = \(bind: repository) AND tag = \(bind: tag)
            """).first() else { return nil }
        return CachedTag(digest: try Digest(parsing: try row.decode(column: "digest", as: String.self)),
                         checkedAt: Date(millis: try row.decode(column: "checked_at", as: Int64.self)))
    }

    public func putTag(registryID: String, repository: String, tag: String, _ value: CachedTag) async throws {
        try await db.raw("""
            INSERT INTO proxy_tags (registry_id, repository, tag, digest, checked_at)
            VALUES (\(bind: registryID), \(bind: repository), \(bind: tag), \(bind: value.digest.description), \(bind: value.checkedAt.millis))
            ON CONFLICT (registry_id, repository, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at
            """).run()
    }

    public func manifest(_ digest: Digest) async throws -> ManifestRecord? {
        guard let row = try await db.raw("SELECT media_type, size FROM manifests WHERE digest = \(bind: digest.description)").first()
        else { return nil }
        return ManifestRecord(digest: digest, mediaType: try row.decode(column: "media_type", as: String.self),
                              size: try row.decode(column: "size", as: Int64.self))
    }

    public func putManifest(_ record: ManifestRecord) async throws {
        try await db.raw("""
            INSERT INTO manifests (digest, media_type, size, created_at)
            VALUES (\(bind: record.digest.description), \(bind: record.mediaType), \(bind: record.size), \(bind: Date().millis))
            ON CONFLICT (digest) DO NOTHING
            """).run()
    }

    // MARK: Blob visibility

    public func isVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        let key = visibility.storageKey
        return try await db.raw("""
            SELECT 1 AS one FROM blob_links
            WHERE registry_id = \(bind: key.scope) AND repository = \(bind: key.repository) AND digest = \(bind: digest.description)
            """).first() != nil
    }

    public func makeVisible(_ digest: Digest, in visibility: BlobVisibility) async throws {
        let key = visibility.storageKey
        try await db.raw("""
            INSERT INTO blob_links (registry_id, repository, digest, created_at)
            VALUES (\(bind: key.scope), \(bind: key.repository), \(bind: digest.description), \(bind: Date().millis))
            ON CONFLICT (registry_id, repository, digest) DO NOTHING
            """).run()
    }

    public func renewVisible(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        let key = visibility.storageKey
        return try await db.raw("""
            UPDATE blob_links SET created_at = \(bind: Date().millis)
            WHERE registry_id = \(bind: key.scope) AND repository = \(bind: key.repository) AND digest = \(bind: digest.description)
            RETURNING digest
            """).first() != nil
    }

    public func hide(_ digest: Digest, in visibility: BlobVisibility) async throws -> Bool {
        guard try await isVisible(digest, in: visibility) else { return false }
        let key = visibility.storageKey
        try await db.raw("""
            DELETE FROM blob_links
            WHERE registry_id = \(bind: key.scope) AND repository = \(bind: key.repository) AND digest = \(bind: digest.description)
            """).run()
        return true
    }

    // MARK: Pull log

    /// A batch takes a few multi-row statements, not one per record: each statement is a
    /// commit, and per-record commits were most of the server's CPU under heavy pulls on SQLite.
    public func record(_ pulls: [PullRecord]) async throws {
        for chunk in pulls.chunked(Self.rowsPerStatement) {
            let rows: [SQLQueryString] = chunk.map { p in
                """
                (\(bind: p.id), \(bind: p.at.millis), \(bind: p.customerID), \(bind: p.appSlug), \(bind: p.repository),
                 \(bind: p.reference), \(bind: p.action), \(bind: p.status), \(bind: p.bytes), \(bind: p.reason))
                """
            }
            try await db.raw("""
                INSERT INTO pulls (id, at, customer_id, app_slug, repository, reference, action, status, bytes, reason)
                VALUES \(rows.joined(separator: ", "))
                ON CONFLICT (id) DO NOTHING
                """).run()
        }
        try await addDayCounts(PullDayCount.counting(pulls))
    }

    public func addDayCounts(_ counts: [PullDayCount]) async throws {
        for chunk in counts.chunked(Self.rowsPerStatement) {
            let rows: [SQLQueryString] = chunk.map { c in
                """
                (\(bind: c.day.millis / 86_400_000), \(bind: c.customerID ?? ""), \(bind: c.appSlug ?? ""), \(bind: c.repository),
                 \(bind: c.reason ?? ""), \(bind: c.requests), \(bind: c.refused), \(bind: c.bytes), \(bind: c.lastAt.millis))
                """
            }
            try await db.raw("""
                INSERT INTO pull_days (day, customer_id, app_slug, repository, reason, requests, refused, bytes, last_at)
                VALUES \(rows.joined(separator: ", "))
                ON CONFLICT (day, customer_id, app_slug, repository, reason) DO UPDATE SET
                    requests = pull_days.requests + excluded.requests, refused = pull_days.refused + excluded.refused,
                    bytes = pull_days.bytes + excluded.bytes,
                    last_at = CASE WHEN excluded.last_at > pull_days.last_at THEN excluded.last_at ELSE pull_days.last_at END
                """).run()
        }
    }

    /// Ten binds a row: 500 binds a statement, under every SQLite build's limit (999 at the least).
    static let rowsPerStatement = 50

    public func pullCounts(customerID: String?, since: Date) async throws -> [PullDayCount] {
        let first = since.millis / 86_400_000
        let rows = if let customerID {
            try await db.raw("SELECT * FROM pull_days WHERE customer_id = \(bind: customerID) AND day >= \(bind: first)").all()
        } else {
            try await db.raw("SELECT * FROM pull_days WHERE day >= \(bind: first)").all()
        }
        return try rows.map { row in
            func optional(_ column: String) throws -> String? {
                let value = try row.decode(column: column, as: String.self)
                return value.isEmpty ? nil : value
            }
            return PullDayCount(day: Date(millis: try row.decode(column: "day", as: Int64.self) * 86_400_000),
                                customerID: try optional("customer_id"), appSlug: try optional("app_slug"),
                                repository: try row.decode(column: "repository", as: String.self), reason: try optional("reason"),
                                requests: try row.decode(column: "requests", as: Int.self), refused: try row.decode(column: "refused", as: Int.self),
                                bytes: try row.decode(column: "bytes", as: Int64.self),
                                lastAt: Date(millis: try row.decode(column: "last_at", as: Int64.self)))
        }
    }

    public func deletePulls(before cutoff: Date) async throws -> Int {
        try await db.raw("DELETE FROM pulls WHERE at < \(bind: cutoff.millis) RETURNING id").all().count
    }

    public func pulls(customerID: String, limit: Int) async throws -> [PullRecord] {
        try await db.raw("""
            SELECT * FROM pulls WHERE customer_id = \(bind: customerID) ORDER BY at DESC LIMIT \(bind: limit)
            """).all().map { row in
            PullRecord(id: try row.decode(column: "id", as: String.self),
                       at: Date(millis: try row.decode(column: "at", as: Int64.self)),
                       customerID: try row.decode(column: "customer_id", as: String?.self),
                       appSlug: try row.decode(column: "app_slug", as: String?.self),
                       repository: try row.decode(column: "repository", as: String.self),
                       reference: try row.decode(column: "reference", as: String.self),
                       action: try row.decode(column: "action", as: String.self),
                       status: try row.decode(column: "status", as: Int.self),
                       bytes: try row.decode(column: "bytes", as: Int64.self),
                       reason: try row.decode(column: "reason", as: String?.self))
        }
    }

    static func isUniqueViolation(_ error: any Error) -> Bool {
        // PostgreSQL's errors describe themselves only when reflected (sqlState 23505).
        let text = (String(describing: error) + " " + String(reflecting: error)).lowercased()
        return text.contains("unique") || text.contains("duplicate key") || text.contains("23505")
    }
}

extension Date {
    var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    init(millis: Int64) { self.init(timeIntervalSince1970: Double(millis) / 1000) }
}

extension Array {
    /// The elements in consecutive runs of at most `size`.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
