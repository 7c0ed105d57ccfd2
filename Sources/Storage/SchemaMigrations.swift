import SQLKit

/// Ordered schema steps; each runs once, recorded in `schema_version`.
enum SchemaMigrations {
    static let steps: [[String]] = [
        [
            "CREATE TABLE apps (id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at BIGINT NOT NULL)",
            """
            CREATE TABLE registries (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, provider TEXT NOT NULL,
                endpoint TEXT NOT NULL, host TEXT NOT NULL, username TEXT, sealed_secret TEXT, auth_type TEXT NOT NULL,
                created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE registry_apps (registry_id TEXT NOT NULL REFERENCES registries(id),
                app_id TEXT NOT NULL REFERENCES apps(id), PRIMARY KEY (registry_id, app_id))
            """,
            """
            CREATE TABLE customers (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id), name TEXT NOT NULL,
                email TEXT, channel TEXT NOT NULL, license_type TEXT NOT NULL, expires_at BIGINT, archived BIGINT NOT NULL,
                helm_install BIGINT NOT NULL, license_hash TEXT NOT NULL UNIQUE, sealed_license TEXT NOT NULL,
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE proxy_tags (registry_id TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL,
                digest TEXT NOT NULL, checked_at BIGINT NOT NULL, PRIMARY KEY (registry_id, repository, tag))
            """,
            "CREATE TABLE manifests (digest TEXT PRIMARY KEY, media_type TEXT NOT NULL, size BIGINT NOT NULL, created_at BIGINT NOT NULL)",
            """
            CREATE TABLE blob_links (registry_id TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL,
                created_at BIGINT NOT NULL, PRIMARY KEY (registry_id, repository, digest))
            """,
            """
            CREATE TABLE pulls (id TEXT PRIMARY KEY, at BIGINT NOT NULL, customer_id TEXT, app_slug TEXT,
                repository TEXT NOT NULL, reference TEXT NOT NULL, action TEXT NOT NULL, status BIGINT NOT NULL,
                bytes BIGINT NOT NULL, reason TEXT)
            """,
            "CREATE INDEX pulls_by_customer ON pulls (customer_id, at)",
        ],
        [
            """
            CREATE TABLE vendor_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
                scope TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE channels (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id), name TEXT NOT NULL,
                slug TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (app_id, slug))
            """,
            """
            CREATE TABLE releases (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id), sequence BIGINT NOT NULL,
                version TEXT NOT NULL, notes TEXT, created_at BIGINT NOT NULL, edited_at BIGINT, UNIQUE (app_id, sequence))
            """,
            """
            CREATE TABLE release_charts (release_id TEXT NOT NULL REFERENCES releases(id), name TEXT NOT NULL,
                version TEXT NOT NULL, digest TEXT NOT NULL, size BIGINT NOT NULL, PRIMARY KEY (release_id, name))
            """,
            """
            CREATE TABLE promotions (id TEXT PRIMARY KEY, channel_id TEXT NOT NULL REFERENCES channels(id),
                release_id TEXT NOT NULL REFERENCES releases(id), version TEXT NOT NULL, notes TEXT, promoted_at BIGINT NOT NULL,
                ordinal BIGINT NOT NULL)
            """,
            """
            CREATE TABLE repository_manifests (repository TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,
                size BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (repository, digest))
            """,
            """
            CREATE TABLE repository_tags (repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
                updated_at BIGINT NOT NULL, PRIMARY KEY (repository, tag))
            """,
        ],
        [
            // What a referrers index lists for a manifest with a `subject`.
            "ALTER TABLE repository_manifests ADD COLUMN subject TEXT",
            "ALTER TABLE repository_manifests ADD COLUMN artifact_type TEXT",
            "ALTER TABLE repository_manifests ADD COLUMN annotations TEXT",
            "CREATE INDEX repository_manifests_by_subject ON repository_manifests (repository, subject)",
        ],
        [
            // What replicas share beyond the catalog: token-signing keys, who fills which blob,
            // failed logins, and chunked uploads in progress.
            "CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, sealed_pem TEXT NOT NULL, created_at BIGINT NOT NULL)",
            "CREATE TABLE fill_leases (digest TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)",
            "CREATE TABLE login_failures (login_key TEXT NOT NULL, at BIGINT NOT NULL)",
            "CREATE INDEX login_failures_by_key ON login_failures (login_key, at)",
            """
            CREATE TABLE upload_sessions (id TEXT PRIMARY KEY, repository TEXT NOT NULL, size BIGINT NOT NULL, parts TEXT NOT NULL,
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
            """,
        ],
        [
            // ECR's region, and the upstream repositories an app's customers may pull through a registry.
            "ALTER TABLE registries ADD COLUMN region TEXT",
            "ALTER TABLE registries ADD COLUMN allowed_repositories TEXT",
        ],
        [
            // Custom domains: the host an app's customers pull from, and its certificate.
            """
            CREATE TABLE domains (name TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id), certificate_pem TEXT,
                sealed_key TEXT, created_at BIGINT NOT NULL)
            """,
            // What the vendor lets anyone pull without a license.
            "CREATE TABLE public_repositories (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL)",
            "ALTER TABLE registries ADD COLUMN anonymous_pull BIGINT NOT NULL DEFAULT 0",
        ],
        [
            // The web portal: vendor users, signed-in browsers, and who changed what.
            """
            CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL,
                created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE web_sessions (id_hash TEXT PRIMARY KEY, user_id TEXT, customer_id TEXT, csrf_token TEXT NOT NULL,
                expires_at BIGINT NOT NULL)
            """,
            "CREATE TABLE audit_events (at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL)",
            "CREATE INDEX audit_events_by_time ON audit_events (at)",
        ],
        [
            // Telling the vendor: webhooks, what was delivered, and once-only notices already sent.
            "CREATE TABLE webhooks (id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, sealed_secret TEXT NOT NULL, created_at BIGINT NOT NULL)",
            """
            CREATE TABLE webhook_deliveries (webhook_id TEXT NOT NULL, event_id TEXT NOT NULL, event TEXT NOT NULL, attempt BIGINT NOT NULL,
                status BIGINT, error TEXT, at BIGINT NOT NULL)
            """,
            "CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, at)",
            "CREATE TABLE notices_sent (notice_key TEXT PRIMARY KEY, at BIGINT NOT NULL)",
        ],
        [
            // License fields: what each app's licenses carry, each customer's values, the app's signing key.
            """
            CREATE TABLE license_fields (app_id TEXT NOT NULL, name TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
                type TEXT NOT NULL, default_value TEXT, hidden BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (app_id, name))
            """,
            "CREATE TABLE customer_field_values (customer_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (customer_id, name))",
            "CREATE TABLE app_signing_keys (app_id TEXT PRIMARY KEY, sealed_pem TEXT NOT NULL, created_at BIGINT NOT NULL)",
            """
            CREATE TABLE license_field_signatures (customer_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
                signature TEXT NOT NULL, PRIMARY KEY (customer_id, name, value))
            """,
        ],
        [
            // The proxy cache's size and recency, for eviction; what each cached manifest references.
            """
            CREATE TABLE cache_entries (digest TEXT PRIMARY KEY, size BIGINT NOT NULL, cached_at BIGINT NOT NULL,
                last_pulled_at BIGINT NOT NULL)
            """,
            "CREATE INDEX cache_entries_by_pull ON cache_entries (last_pulled_at)",
            "CREATE TABLE cache_references (manifest TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (manifest, blob))",
            "CREATE INDEX cache_references_by_blob ON cache_references (blob)",
            "CREATE INDEX blob_links_by_digest ON blob_links (digest)",
            // Pull counts per day, kept when raw pull records age out.
            // '' stands for no customer (vendor or anonymous), no app, or no refusal.
            """
            CREATE TABLE pull_days (day BIGINT NOT NULL, customer_id TEXT NOT NULL, app_slug TEXT NOT NULL, repository TEXT NOT NULL,
                reason TEXT NOT NULL, requests BIGINT NOT NULL, refused BIGINT NOT NULL, bytes BIGINT NOT NULL, last_at BIGINT NOT NULL,
                PRIMARY KEY (day, customer_id, app_slug, repository, reason))
            """,
            """
            INSERT INTO pull_days (day, customer_id, app_slug, repository, reason, requests, refused, bytes, last_at)
            SELECT at / 86400000, COALESCE(customer_id, ''), COALESCE(app_slug, ''), repository,
                   CASE WHEN status >= 400 THEN COALESCE(reason, 'HTTP ' || CAST(status AS TEXT)) ELSE '' END,
                   COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(CASE WHEN status >= 400 THEN 0 ELSE bytes END), MAX(at)
            FROM pulls
            GROUP BY at / 86400000, COALESCE(customer_id, ''), COALESCE(app_slug, ''), repository,
                     CASE WHEN status >= 400 THEN COALESCE(reason, 'HTTP ' || CAST(status AS TEXT)) ELSE '' END
            """,
            "CREATE INDEX pulls_by_time ON pulls (at)",
            // Air-gap bundles already built: the bundle's identity → its blob.
            "CREATE TABLE bundles (bundle_key TEXT PRIMARY KEY, digest TEXT NOT NULL, size BIGINT NOT NULL, created_at BIGINT NOT NULL)",
        ],
        [
            // Token services the vendor approved for a registry besides its own host (one per line).
            "ALTER TABLE registries ADD COLUMN token_realms TEXT",
            // Charts built for a recipient: what was injected (a hash) → the manifest it made.
            "CREATE TABLE delivered_charts (delivery_key TEXT PRIMARY KEY, digest TEXT NOT NULL, size BIGINT NOT NULL, created_at BIGINT NOT NULL)",
        ],
        [
            // Instances of vendors' applications, as their in-cluster SDKs report them.
            """
            CREATE TABLE instances (customer_id TEXT NOT NULL, instance_id TEXT NOT NULL, app_id TEXT NOT NULL, cluster_id TEXT,
                first_seen BIGINT NOT NULL, last_checkin BIGINT NOT NULL, version_label TEXT, release_sequence BIGINT,
                channel_sequence BIGINT, channel_id TEXT, app_status TEXT, k8s_version TEXT, k8s_distribution TEXT,
                custom_metrics TEXT, tags TEXT, PRIMARY KEY (customer_id, instance_id))
            """,
            "CREATE INDEX instances_by_checkin ON instances (last_checkin)",
        ],
        [
            // Where a lease's holder can be reached, so a replica streams a blob another is still fetching.
            "ALTER TABLE fill_leases ADD COLUMN holder_address TEXT",
        ],
        [
            // Delivered charts: whom each was built for (the scope and repository of its blob
            // links) and when it was last delivered, so `gc` can forget the ones nobody pulls.
            "ALTER TABLE delivered_charts ADD COLUMN place TEXT",
            "ALTER TABLE delivered_charts ADD COLUMN repository TEXT",
            // Left empty for rows recorded before: `gc` fills them in (`prepareDeliveredChartsForCollection`).
            "ALTER TABLE delivered_charts ADD COLUMN used_at BIGINT",
            "CREATE INDEX delivered_charts_by_use ON delivered_charts (used_at)",
            "CREATE INDEX delivered_charts_by_digest ON delivered_charts (digest)",
        ],
    ]

    static func apply(to db: any SQLDatabase) async throws {
        try await db.raw("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").run()
        let current = try await db.raw("SELECT MAX(version) AS v FROM schema_version").first()
            .flatMap { try $0.decode(column: "v", as: Int64?.self) } ?? 0
        for (index, statements) in steps.enumerated() where Int64(index + 1) > current {
            for sql in statements {
                try await db.raw(SQLQueryString(stringLiteral: sql)).run()
            }
            try await db.raw("INSERT INTO schema_version (version) VALUES (\(bind: Int64(index + 1)))").run()
        }
    }
}
