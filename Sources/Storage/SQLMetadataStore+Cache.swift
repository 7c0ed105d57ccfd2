import Foundation
import OCI
import SQLKit

/// Scopes of `blob_links` that are data rather than cache: vendor repositories and delivered charts.
private let heldScopeCondition: SQLQueryString = "(registry_id = 'hosted' OR registry_id LIKE 'chart:%')"

extension SQLMetadataStore {
    // MARK: Proxy cache entries

    public func recordCached(_ digest: Digest, size: Int64, references: [Digest], at: Date) async throws {
        try await db.raw("""
            INSERT INTO cache_entries (digest, size, cached_at, last_pulled_at)
            VALUES (\(bind: digest.description), \(bind: size), \(bind: at.millis), \(bind: at.millis))
            ON CONFLICT (digest) DO UPDATE SET last_pulled_at = excluded.last_pulled_at
            """).run()
        for blob in Set(references) where blob != digest {
            try await db.raw("""
                INSERT INTO cache_references (manifest, blob) VALUES (\(bind: digest.description), \(bind: blob.description))
                ON CONFLICT (manifest, blob) DO NOTHING
                """).run()
        }
    }

    public func touchCached(_ digests: [Digest], at: Date) async throws {
        for chunk in digests.map(\.description).chunked(200) {
            try await db.raw("UPDATE cache_entries SET last_pulled_at = \(bind: at.millis) WHERE digest IN (\(binds: Array(chunk)))").run()
        }
    }

    public func cachedTotalSize() async throws -> Int64 {
        try await db.raw("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM cache_entries").first()?.decode(column: "total", as: Int64.self) ?? 0
    }

    public func evictionCandidates(limit: Int) async throws -> [CachedContent] {
        try await db.raw("""
            SELECT digest, size, last_pulled_at FROM cache_entries c
            WHERE NOT EXISTS (SELECT 1 FROM cache_references r WHERE r.blob = c.digest)
            ORDER BY last_pulled_at, digest LIMIT \(bind: limit)
            """).all().compactMap { row in
            guard let digest = try? Digest(parsing: try row.decode(column: "digest", as: String.self)) else { return nil }
            return CachedContent(digest: digest, size: try row.decode(column: "size", as: Int64.self),
                                 lastPulledAt: Date(millis: try row.decode(column: "last_pulled_at", as: Int64.self)))
        }
    }

    public func forgetCached(_ digest: Digest) async throws -> Bool {
        // Upstream links stay: they record that an upstream repository holds the digest, which
        // stays true, and a later pull fetches the bytes again without asking.
        let d = digest.description
        try await db.raw("DELETE FROM cache_entries WHERE digest = \(bind: d)").run()
        try await db.raw("DELETE FROM cache_references WHERE manifest = \(bind: d)").run()
        try await db.raw("DELETE FROM proxy_tags WHERE digest = \(bind: d)").run()
        let held = try await isHeld(d, byLinksWhere: heldScopeCondition, countingCache: false)
        if !held {
            try await db.raw("DELETE FROM manifests WHERE digest = \(bind: d)").run()
        }
        return !held
    }

    public func untrackedCachedDigests(limit: Int) async throws -> [Digest] {
        try await db.raw("""
            SELECT DISTINCT digest FROM blob_links l
            WHERE NOT \(heldScopeCondition) AND NOT EXISTS (SELECT 1 FROM cache_entries c WHERE c.digest = l.digest)
              AND NOT EXISTS (SELECT 1 FROM blob_links h WHERE h.digest = l.digest AND (h.registry_id = 'hosted' OR h.registry_id LIKE 'chart:%'))
              AND NOT EXISTS (SELECT 1 FROM release_charts r WHERE r.digest = l.digest)
              AND NOT EXISTS (SELECT 1 FROM repository_manifests m WHERE m.digest = l.digest)
            LIMIT \(bind: limit)
            """).all().compactMap { try? Digest(parsing: try $0.decode(column: "digest", as: String.self)) }
    }

    // MARK: Air-gap bundles

    public func bundle(key: String) async throws -> (digest: Digest, size: Int64)? {
        guard let row = try await db.raw("SELECT digest, size FROM bundles WHERE bundle_key = \(bind: key)").first(),
              let digest = try? Digest(parsing: try row.decode(column: "digest", as: String.self)) else { return nil }
        return (digest, try row.decode(column: "size", as: Int64.self))
    }

    public func putBundle(key: String, digest: Digest, size: Int64) async throws {
        try await db.raw("""
            INSERT INTO bundles (bundle_key, digest, size, created_at) VALUES (\(bind: key), \(bind: digest.description), \(bind: size),
                \(bind: Date().millis))
            ON CONFLICT (bundle_key) DO UPDATE SET digest = excluded.digest, size = excluded.size, created_at = excluded.created_at
            """).run()
    }

    // MARK: Delivered charts

    public func useDeliveredChart(key: String, at: Date) async throws -> (digest: Digest, size: Int64)? {
        guard let row = try await db.raw("""
            UPDATE delivered_charts SET used_at = \(bind: at.millis) WHERE delivery_key = \(bind: key) RETURNING digest, size
            """).first(),
              let digest = try? Digest(parsing: try row.decode(column: "digest", as: String.self)) else { return nil }
        return (digest, try row.decode(column: "size", as: Int64.self))
    }

    public func putDeliveredChart(key: String, digest: Digest, size: Int64, place: BlobVisibility, at: Date) async throws {
        let (scope, repository) = place.storageKey
        try await db.raw("""
            INSERT INTO delivered_charts (delivery_key, digest, size, created_at, place, repository, used_at)
            VALUES (\(bind: key), \(bind: digest.description), \(bind: size), \(bind: at.millis), \(bind: scope), \(bind: repository),
                \(bind: at.millis))
            ON CONFLICT (delivery_key) DO UPDATE SET used_at = excluded.used_at, place = excluded.place, repository = excluded.repository
            """).run()
    }

    public func touchDeliveredChart(digest: Digest, in place: BlobVisibility, at: Date) async throws {
        let (scope, repository) = place.storageKey
        try await db.raw("""
            UPDATE delivered_charts SET used_at = \(bind: at.millis)
            WHERE digest = \(bind: digest.description) AND place = \(bind: scope) AND repository = \(bind: repository)
            """).run()
    }

    public func prepareDeliveredChartsForCollection(now: Date) async throws {
        try await db.raw("UPDATE delivered_charts SET used_at = \(bind: now.millis) WHERE used_at IS NULL").run()
        // A customer's artifact is linked in exactly one place (its values name the customer and
        // repository); a vendor's may be linked in several and stays without one, never collected.
        try await db.raw("""
            UPDATE delivered_charts SET
                place = (SELECT l.registry_id FROM blob_links l
                         WHERE l.digest = delivered_charts.digest AND l.registry_id LIKE 'chart:customer:%'
                         ORDER BY l.registry_id, l.repository LIMIT 1),
                repository = (SELECT l.repository FROM blob_links l
                              WHERE l.digest = delivered_charts.digest AND l.registry_id LIKE 'chart:customer:%'
                              ORDER BY l.registry_id, l.repository LIMIT 1)
            WHERE place IS NULL
            """).run()
    }

    public func idleDeliveredCharts(usedBefore cutoff: Date, limit: Int) async throws -> [IdleDeliveredChart] {
        try await db.raw("""
            SELECT delivery_key, digest, place, repository, used_at FROM delivered_charts
            WHERE used_at < \(bind: cutoff.millis) AND place LIKE 'chart:customer:%'
            ORDER BY used_at LIMIT \(bind: limit)
            """).all().compactMap { row in
            guard let digest = try? Digest(parsing: try row.decode(column: "digest", as: String.self)),
                  let place = BlobVisibility(chartScope: try row.decode(column: "place", as: String.self),
                                             repository: try row.decode(column: "repository", as: String.self)) else { return nil }
            return IdleDeliveredChart(key: try row.decode(column: "delivery_key", as: String.self), digest: digest, place: place,
                                      usedAt: Date(millis: try row.decode(column: "used_at", as: Int64.self)))
        }
    }

    public func forgetDeliveredChart(key: String, usedBefore cutoff: Date) async throws -> Bool {
        try await db.raw("""
            DELETE FROM delivered_charts WHERE delivery_key = \(bind: key) AND used_at < \(bind: cutoff.millis) RETURNING delivery_key
            """).first() != nil
    }

    public func unlinkDeliveredChart(manifest: Digest, parts: [Digest], in place: BlobVisibility) async throws {
        let (scope, repository) = place.storageKey
        let m = manifest.description
        for digest in [manifest] + parts {
            try await db.raw("""
                DELETE FROM blob_links
                WHERE registry_id = \(bind: scope) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                  AND NOT EXISTS (SELECT 1 FROM delivered_charts d
                                  WHERE d.digest = \(bind: m) AND d.place = \(bind: scope) AND d.repository = \(bind: repository))
                """).run()
        }
        try await db.raw("""
            DELETE FROM manifests WHERE digest = \(bind: m)
              AND NOT EXISTS (SELECT 1 FROM delivered_charts d WHERE d.digest = \(bind: m))
              AND NOT EXISTS (SELECT 1 FROM cache_entries c WHERE c.digest = \(bind: m))
            """).run()
    }

    // MARK: Garbage collection of vendor repositories

    public func hostedLinks() async throws -> [HostedLink] {
        try await db.raw("SELECT repository, digest, created_at FROM blob_links WHERE registry_id = 'hosted'").all().compactMap { row in
            guard let digest = try? Digest(parsing: try row.decode(column: "digest", as: String.self)) else { return nil }
            return HostedLink(repository: try row.decode(column: "repository", as: String.self), digest: digest,
                              linkedAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    public func hostedManifests() async throws -> [(repository: String, digest: Digest)] {
        try await db.raw("SELECT repository, digest FROM repository_manifests").all().compactMap { row in
            guard let digest = try? Digest(parsing: try row.decode(column: "digest", as: String.self)) else { return nil }
            return (try row.decode(column: "repository", as: String.self), digest)
        }
    }

    public func removeHostedLink(repository: String, digest: Digest, linkedBefore cutoff: Date) async throws -> Bool {
        try await db.raw("""
            DELETE FROM blob_links
            WHERE registry_id = 'hosted' AND repository = \(bind: repository) AND digest = \(bind: digest.description)
              AND created_at < \(bind: cutoff.millis)
              AND NOT EXISTS (SELECT 1 FROM repository_manifests m
                              WHERE m.repository = \(bind: repository) AND m.digest = \(bind: digest.description))
            RETURNING digest
            """).first() != nil
    }

    public func isHeldAnywhere(_ digest: Digest, besidesVendorRepositories: Bool) async throws -> Bool {
        // Upstream links alone hold nothing: proxied content is held by its cache entry.
        try await isHeld(digest.description, byLinksWhere: besidesVendorRepositories ? "registry_id LIKE 'chart:%'" : heldScopeCondition,
                         countingCache: true)
    }

    /// Whether a link of the given scopes, a release's chart or a vendor manifest holds the
    /// digest; with `countingCache`, also a cached (or delivered) manifest or a cache entry.
    private func isHeld(_ d: String, byLinksWhere scopes: SQLQueryString, countingCache: Bool) async throws -> Bool {
        let cache: SQLQueryString = countingCache
            ? """
              UNION ALL SELECT 1 AS one FROM manifests WHERE digest = \(bind: d)
              UNION ALL SELECT 1 AS one FROM cache_entries WHERE digest = \(bind: d)
              """
            : ""
        return try await db.raw("""
            SELECT 1 AS one FROM blob_links WHERE digest = \(bind: d) AND \(scopes)
            UNION ALL SELECT 1 AS one FROM release_charts WHERE digest = \(bind: d)
            UNION ALL SELECT 1 AS one FROM repository_manifests WHERE digest = \(bind: d)
            \(cache)
            """).first() != nil
    }
}
