import Foundation
import OCI
import SQLKit

extension JSONEncoder {
    /// Deterministic JSON for stored documents.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

extension SQLMetadataStore {
    // MARK: Vendor tokens

    public func createVendorToken(_ t: VendorTokenRecord) async throws {
        try await db.raw("""
            INSERT INTO vendor_tokens (id, name, token_hash, scope, created_at)
            VALUES (\(bind: t.id), \(bind: t.name), \(bind: t.tokenHash), \(bind: t.scope.rawValue), \(bind: t.createdAt.millis))
            """).run()
    }

    public func vendorTokens() async throws -> [VendorTokenRecord] {
        try await db.raw("SELECT * FROM vendor_tokens ORDER BY created_at, id").all().map(Self.vendorToken)
    }

    public func vendorToken(hash: String) async throws -> VendorTokenRecord? {
        try await db.raw("SELECT * FROM vendor_tokens WHERE token_hash = \(bind: hash)").first().map(Self.vendorToken)
    }

    public func deleteVendorToken(id: String) async throws -> Bool {
        guard try await db.raw("SELECT id FROM vendor_tokens WHERE id = \(bind: id)").first() != nil else { return false }
        try await db.raw("DELETE FROM vendor_tokens WHERE id = \(bind: id)").run()
        return true
    }

    static func vendorToken(_ row: any SQLRow) throws -> VendorTokenRecord {
        VendorTokenRecord(id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
                          tokenHash: try row.decode(column: "token_hash", as: String.self),
                          scope: VendorTokenRecord.Scope(rawValue: try row.decode(column: "scope", as: String.self)) ?? .read,
                          createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
    }

    // MARK: Channels and releases

    public func createChannel(_ c: ChannelRecord) async throws {
        do {
            try await db.raw("""
                INSERT INTO channels (id, app_id, name, slug, created_at)
                VALUES (\(bind: c.id), \(bind: c.appID), \(bind: c.name), \(bind: c.slug), \(bind: c.createdAt.millis))
                """).run()
        } catch where Self.isUniqueViolation(error) {
            throw StoreError.conflict("channel \(c.name) already exists")
        }
    }

    public func channels(appID: String) async throws -> [ChannelRecord] {
        try await db.raw("SELECT * FROM channels WHERE app_id = \(bind: appID) ORDER BY created_at, name").all().map { row in
            ChannelRecord(id: try row.decode(column: "id", as: String.self), appID: try row.decode(column: "app_id", as: String.self),
                          name: try row.decode(column: "name", as: String.self), slug: try row.decode(column: "slug", as: String.self),
                          createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    public func createRelease(_ release: ReleaseRecord, charts: [ReleaseChartRecord]) async throws -> Int {
        // Sequences are per app; a concurrent create that takes the same number retries.
        for _ in 0..<5 {
            let next = try await db.raw("SELECT COALESCE(MAX(sequence), 0) + 1 AS next FROM releases WHERE app_id = \(bind: release.appID)")
                .first().map { try $0.decode(column: "next", as: Int.self) } ?? 1
            do {
                try await db.raw("""
                    INSERT INTO releases (id, app_id, sequence, version, notes, created_at, edited_at)
                    VALUES (\(bind: release.id), \(bind: release.appID), \(bind: next), \(bind: release.version), \(bind: release.notes),
                            \(bind: release.createdAt.millis), \(bind: release.editedAt?.millis))
                    """).run()
            } catch where Self.isUniqueViolation(error) {
                continue
            }
            for chart in charts {
                try await db.raw("""
                    INSERT INTO release_charts (release_id, name, version, digest, size)
                    VALUES (\(bind: release.id), \(bind: chart.name), \(bind: chart.version), \(bind: chart.digest.description), \(bind: chart.size))
                    """).run()
            }
            return next
        }
        throw StoreError.conflict("could not allocate a release sequence")
    }

    public func releases(appID: String) async throws -> [ReleaseRecord] {
        try await db.raw("SELECT * FROM releases WHERE app_id = \(bind: appID) ORDER BY sequence DESC").all().map { row in
            ReleaseRecord(id: try row.decode(column: "id", as: String.self), appID: try row.decode(column: "app_id", as: String.self),
                          sequence: try row.decode(column: "sequence", as: Int.self), version: try row.decode(column: "version", as: String.self),
                          notes: try row.decode(column: "notes", as: String?.self),
                          createdAt: Date(millis: try row.decode(column: "created_at", as: Int64.self)),
                          editedAt: try row.decode(column: "edited_at", as: Int64?.self).map(Date.init(millis:)))
        }
    }

    public func releaseCharts(appID: String) async throws -> [ReleaseChartRecord] {
        try await db.raw("""
            SELECT rc.* FROM release_charts rc JOIN releases r ON r.id = rc.release_id WHERE r.app_id = \(bind: appID)
            """).all().map { row in
            ReleaseChartRecord(releaseID: try row.decode(column: "release_id", as: String.self), name: try row.decode(column: "name", as: String.self),
                               version: try row.decode(column: "version", as: String.self),
                               digest: try Digest(parsing: try row.decode(column: "digest", as: String.self)),
                               size: try row.decode(column: "size", as: Int64.self))
        }
    }

    public func promote(_ p: PromotionRecord) async throws {
        // The ordinal orders promotions made within the same millisecond.
        let ordinal = try await db.raw("SELECT COALESCE(MAX(ordinal), 0) + 1 AS next FROM promotions")
            .first().map { try $0.decode(column: "next", as: Int64.self) } ?? 1
        try await db.raw("""
            INSERT INTO promotions (id, channel_id, release_id, version, notes, promoted_at, ordinal)
            VALUES (\(bind: p.id), \(bind: p.channelID), \(bind: p.releaseID), \(bind: p.version), \(bind: p.notes),
                    \(bind: p.promotedAt.millis), \(bind: ordinal))
            """).run()
    }

    public func promotions(appID: String) async throws -> [PromotionRecord] {
        try await db.raw("""
            SELECT p.* FROM promotions p JOIN channels c ON c.id = p.channel_id WHERE c.app_id = \(bind: appID)
            ORDER BY p.promoted_at, p.ordinal
            """).all().map { row in
            PromotionRecord(id: try row.decode(column: "id", as: String.self), channelID: try row.decode(column: "channel_id", as: String.self),
                            releaseID: try row.decode(column: "release_id", as: String.self),
                            version: try row.decode(column: "version", as: String.self), notes: try row.decode(column: "notes", as: String?.self),
                            promotedAt: Date(millis: try row.decode(column: "promoted_at", as: Int64.self)))
        }
    }

    // MARK: Hosted repositories

    public func putRepositoryManifest(_ repository: String, _ r: ManifestRecord, referrer: ReferrerFacts?) async throws {
        let annotations = try referrer?.annotations.map { String(decoding: try JSONEncoder.sorted.encode($0), as: UTF8.self) }
        try await db.raw("""
            INSERT INTO repository_manifests (repository, digest, media_type, size, created_at, subject, artifact_type, annotations)
            VALUES (\(bind: repository), \(bind: r.digest.description), \(bind: r.mediaType), \(bind: r.size), \(bind: Date().millis),
                    \(bind: referrer?.subject.description), \(bind: referrer?.artifactType), \(bind: annotations))
            ON CONFLICT (repository, digest) DO NOTHING
            """).run()
    }

    public func referrers(_ repository: String, subject: Digest) async throws -> [ReferrersIndex.Entry] {
        try await db.raw("""
            SELECT digest, media_type, size, artifact_type, annotations FROM repository_manifests
            WHERE repository = \(bind: repository) AND subject = \(bind: subject.description)
            ORDER BY digest
            """).all().map { row in
            let annotations = try row.decode(column: "annotations", as: String?.self)
                .flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
            return ReferrersIndex.Entry(mediaType: try row.decode(column: "media_type", as: String.self),
                                        digest: try Digest(parsing: try row.decode(column: "digest", as: String.self)),
                                        size: try row.decode(column: "size", as: Int64.self),
                                        artifactType: try row.decode(column: "artifact_type", as: String?.self),
                                        annotations: annotations)
        }
    }

    public func repositoryManifest(_ repository: String, _ digest: Digest) async throws -> ManifestRecord? {
        guard let row = try await db.raw("""
            SELECT media_type, size FROM repository_manifests WHERE repository = \(bind: repository) AND digest = \(bind: digest.description)
            """).first() else { return nil }
        return ManifestRecord(digest: digest, mediaType: try row.decode(column: "media_type", as: String.self),
                              size: try row.decode(column: "size", as: Int64.self))
    }

    public func deleteRepositoryManifest(_ repository: String, _ digest: Digest) async throws -> Bool {
        guard try await repositoryManifest(repository, digest) != nil else { return false }
        try await db.raw("DELETE FROM repository_tags WHERE repository = \(bind: repository) AND digest = \(bind: digest.description)").run()
        try await db.raw("DELETE FROM repository_manifests WHERE repository = \(bind: repository) AND digest = \(bind: digest.description)").run()
        return true
    }

    public func putRepositoryTag(_ repository: String, _ tag: String, _ digest: Digest) async throws {
        try await db.raw("""
            INSERT INTO repository_tags (repository, tag, digest, updated_at)
            VALUES (\(bind: repository), \(bind: tag), \(bind: digest.description), \(bind: Date().millis))
            ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
            """).run()
    }

    public func repositoryTag(_ repository: String, _ tag: String) async throws -> Digest? {
        try await db.raw("SELECT digest FROM repository_tags WHERE repository = \(bind: repository) AND tag = \(bind: tag)")
            .first().map { try Digest(parsing: try $0.decode(column: "digest", as: String.self)) }
    }

    public func deleteRepositoryTag(_ repository: String, _ tag: String) async throws -> Bool {
        guard try await repositoryTag(repository, tag) != nil else { return false }
        try await db.raw("DELETE FROM repository_tags WHERE repository = \(bind: repository) AND tag = \(bind: tag)").run()
        return true
    }

    public func repositoryTags(_ repository: String) async throws -> [String] {
        try await db.raw("SELECT tag FROM repository_tags WHERE repository = \(bind: repository) ORDER BY tag")
            .all().map { try $0.decode(column: "tag", as: String.self) }
    }
}
