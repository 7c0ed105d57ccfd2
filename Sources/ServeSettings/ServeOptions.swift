/// One setting of `portcullis serve`: how it is spelled as a flag, an environment variable
/// and a key of the configuration file, its default and what it means. This catalogue is the
/// one source of the flags' mapping, `config example`, `config check`, and the README's
/// configuration table (a test compares them).
public struct ServeOption: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case string, integer, boolean
        /// One of the words listed.
        case choice([String])
        /// `250ms`, `90s`, `5m`, `720h`, `30d` or plain seconds.
        case duration
        /// `50GiB`, `500MB`, a byte count, or `80%`.
        case size
        /// A path to a file whose content is a secret (the key ends in `File`).
        case secretFile
    }

    /// The configuration file's key (camelCase).
    public let key: String
    /// `--flag-name`.
    public let flag: String
    public let env: String?
    /// As written in the file; nil when unset by default.
    public let defaultValue: String?
    public let kind: Kind
    public let help: String
    /// For settings unset by default, what `config example` shows commented out.
    public let example: String?

    init(_ key: String, _ flag: String, env: String? = nil, default defaultValue: String? = nil, example: String? = nil, _ help: String) {
        self.init(key, flag, env: env, default: defaultValue, .string, example: example, help)
    }

    init(_ key: String, _ flag: String, env: String? = nil, default defaultValue: String? = nil, _ kind: Kind,
         example: String? = nil, _ help: String) {
        self.key = key
        self.flag = flag
        self.env = env
        self.defaultValue = defaultValue
        self.kind = kind
        self.help = help
        self.example = example
    }
}

public enum ServeOptions {
    public static let all: [ServeOption] = [
        .init("listen", "--listen", env: "PORTCULLIS_LISTEN", default: "127.0.0.1:8080", "address to listen on (host:port)"),
        .init("dataDir", "--data-dir", env: "PORTCULLIS_DATA_DIR", default: "./portcullis-data", "SQLite database, blob cache, keys"),
        .init("publicURL", "--public-url", env: "PORTCULLIS_PUBLIC_URL", example: "https://registry.example.com",
              "scheme and host clients use, in pull secrets, token realms and the portals (default: the listen address; set it behind a load balancer, a proxy or a DNS name)"),
        .init("advertiseURL", "--advertise-url", env: "PORTCULLIS_ADVERTISE_URL", example: "http://10.0.3.7:8080",
              "with a database: the URL other replicas reach this one at, to stream a blob it is still fetching from upstream (default: the listen address when it names one host; a wildcard listen address advertises none, and the others wait for the blob to reach the object store)"),
        .init("tlsCert", "--tls-cert", env: "PORTCULLIS_TLS_CERT", example: "/etc/portcullis/tls.crt",
              "PEM certificate chain for native HTTPS; reloaded on SIGHUP"),
        .init("tlsKey", "--tls-key", env: "PORTCULLIS_TLS_KEY", example: "/etc/portcullis/tls.key", "PEM private key for native HTTPS"),
        .init("http2", "--http2", env: "PORTCULLIS_HTTP2", default: "false", .boolean, "also offer HTTP/2 over TLS"),
        .init("tokenTTL", "--token-ttl", env: "PORTCULLIS_TOKEN_TTL", default: "5m", .duration, "registry token lifetime"),
        .init("tagTTL", "--tag-ttl", env: "PORTCULLIS_TAG_TTL", default: "60s", .duration,
              "how long a proxied tag is served from cache before it is re-checked upstream"),
        .init("staleLimit", "--stale-limit", env: "PORTCULLIS_STALE_LIMIT", default: "24h", .duration,
              "how long past its TTL a cached tag may be served while the upstream fails"),
        .init("upstreamTimeout", "--upstream-timeout", env: "PORTCULLIS_UPSTREAM_TIMEOUT", default: "30s", .duration,
              "wait for an upstream's response head"),
        .init("loginFailureLimit", "--login-failure-limit", env: "PORTCULLIS_LOGIN_FAILURE_LIMIT", default: "10", .integer,
              "failed logins per source address or credential within a minute before 429 (0 disables)"),
        .init("anonymousRateLimit", "--anonymous-rate-limit", env: "PORTCULLIS_ANONYMOUS_RATE_LIMIT", default: "300", .integer,
              "anonymous requests per source address per minute for public content (0 refuses them)"),
        .init("allowPrivateUpstreams", "--allow-private-upstreams", env: "PORTCULLIS_ALLOW_PRIVATE_UPSTREAMS", default: "false", .boolean,
              "let upstream registries, the redirects and token services they name, and webhooks be on private addresses (loopback, RFC 1918, unique-local): on-premises registries; link-local and cloud metadata addresses are refused regardless"),
        .init("metricsTokenFile", "--metrics-token-file", env: "PORTCULLIS_METRICS_TOKEN_FILE", .secretFile, example: "/run/secrets/metrics-token",
              "file holding a token /metrics requires as `Authorization: Bearer TOKEN` (PORTCULLIS_METRICS_TOKEN gives it inline; default: /metrics is open)"),
        .init("refusedPullThreshold", "--refused-pull-threshold", env: "PORTCULLIS_REFUSED_PULL_THRESHOLD", default: "20", .integer,
              "a customer's refused requests within an hour that send pull.refused"),
        .init("expiryScanInterval", "--expiry-scan-interval", env: "PORTCULLIS_EXPIRY_SCAN_INTERVAL", default: "10m", .duration,
              "how often licenses are checked for license.expiring"),
        .init("instanceInactiveAfter", "--instance-inactive-after", env: "PORTCULLIS_INSTANCE_INACTIVE_AFTER", default: "24h", .duration,
              "how long an instance's SDK may be silent before the instance counts as inactive (instance.inactive)"),
        .init("cacheMaxSize", "--cache-max-size", env: "PORTCULLIS_CACHE_MAX_SIZE", .size, example: "50GiB",
              "largest proxy cache, e.g. 50GiB or 80% of the blob directory's disk (default: unbounded)"),
        .init("cacheCheckInterval", "--cache-check-interval", env: "PORTCULLIS_CACHE_CHECK_INTERVAL", default: "30s", .duration,
              "how often the cache's size is checked and pull times are written"),
        .init("pullRetention", "--pull-retention", env: "PORTCULLIS_PULL_RETENTION", .duration, example: "90d",
              "how long raw pull records are kept, at least 1h; per-day counts stay (default: for good)"),
        .init("shutdownGrace", "--shutdown-grace", env: "PORTCULLIS_SHUTDOWN_GRACE", default: "30s", .duration,
              "after SIGTERM, how long in-flight requests may finish"),
        .init("database", "--database", env: "PORTCULLIS_DATABASE_URL", example: "postgres://portcullis@db:5432/portcullis",
              "PostgreSQL for metadata, shared by replicas: postgres://USER:PASS@HOST:PORT/DB (default: SQLite in the data directory)"),
        .init("databaseFile", "--database-file", env: "PORTCULLIS_DATABASE_URL_FILE", .secretFile, example: "/run/secrets/database-url",
              "file holding the --database URL (it carries a password)"),
        .init("blobStore", "--blob-store", env: "PORTCULLIS_BLOB_STORE", example: "s3://portcullis-blobs",
              "S3 or an S3-compatible store for blobs, s3://BUCKET[/PREFIX]; credentials, region and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (a custom endpoint is addressed path-style)"),
        .init("blobRedirect", "--blob-redirect", env: "PORTCULLIS_BLOB_REDIRECT", .duration, example: "5m",
              "answer GETs of stored blobs with 307 to a presigned object-store URL valid this long (needs an s3:// blob store; off by default because customers behind firewalls may not reach the bucket)"),
        .init("secretKeyFile", "--secret-key-file", env: "PORTCULLIS_SECRET_KEY_FILE", .secretFile, example: "/run/secrets/portcullis-key",
              "file holding the key that seals credentials and license IDs at rest, 32 bytes in base64 (`portcullis keygen` prints one; PORTCULLIS_SECRET_KEY gives it inline); required with a database, identical on every replica (default: the data directory's secret.key)"),
        .init("adminTokenFile", "--admin-token-file", env: "PORTCULLIS_ADMIN_TOKEN_FILE", .secretFile, example: "/run/secrets/admin-token",
              "file holding the bootstrap admin token, 24+ characters (PORTCULLIS_ADMIN_TOKEN gives it inline); set it on every replica (default: the data directory's admin-token)"),
        .init("otelEndpoint", "--otel-endpoint", env: "OTEL_EXPORTER_OTLP_ENDPOINT", example: "http://otel-collector:4318",
              "OTLP/HTTP endpoint to export traces to (the base URL: spans go to /v1/traces); OTEL_EXPORTER_OTLP_PROTOCOL=http/json for JSON, OTEL_SERVICE_NAME to rename the service; off when unset"),
        .init("logLevel", "--log-level", env: "PORTCULLIS_LOG_LEVEL", default: "info",
              .choice(["trace", "debug", "info", "notice", "warning", "error"]), "trace, debug, info, notice, warning or error"),
        .init("logFormat", "--log-format", env: "PORTCULLIS_LOG_FORMAT", default: "text", .choice(["text", "json"]),
              "text, or json: one object per line on standard error with ts, level, label, msg, source and the event's own fields (for requests: method, repository, reference, status, bytes, ms, remote, reason)"),
    ]

    public static func option(key: String) -> ServeOption? { all.first { $0.key == key } }

    /// `--config`, the one flag that is not a setting: it names the file the settings come from.
    public static let configFlag = "--config"

    /// The command line of `portcullis serve`, read by the catalogue: `--flag VALUE` or
    /// `--flag=VALUE`, a boolean setting as a bare `--flag` (or `--flag=false`). Returns the
    /// flags given keyed as the catalogue keys them, and `--config`'s path.
    public static func parseFlags(_ arguments: [String]) throws(SettingsError) -> (flags: [String: String], configPath: String?) {
        var flags: [String: String] = [:]
        var configPath: String?
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                throw SettingsError("unexpected argument \(argument.debugDescription): serve takes only flags (`portcullis serve --help` lists them)")
            }
            let name: String, inline: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            } else {
                name = argument
                inline = nil
            }
            func value() throws(SettingsError) -> String {
                if let inline { return inline }
                guard index < arguments.count, !arguments[index].hasPrefix("--") else { throw SettingsError("\(name) needs a value") }
                index += 1
                return arguments[index - 1]
            }
            if name == configFlag {
                configPath = try value()
                continue
            }
            guard let option = all.first(where: { $0.flag == name }) else {
                let near = all.map(\.flag).min { editDistance($0, name) < editDistance($1, name) }.flatMap { editDistance($0, name) <= 2 ? $0 : nil }
                throw SettingsError("unknown flag \(name)" + (near.map { "; did you mean \($0)?" } ?? "") + " (`portcullis serve --help` lists them)")
            }
            guard flags[option.key] == nil else { throw SettingsError("\(name) is given twice") }
            flags[option.key] = option.kind == .boolean ? (inline ?? "true") : try value()
        }
        return (flags, configPath)
    }

    /// The flags as `serve --help` lists them, wrapped to `width` columns.
    public static func flagHelp(width: Int = 100) -> String {
        var out = "FLAGS (each also a config file key and an environment variable):\n"
        let flags = [(configFlag + " <file>", "YAML configuration file (env PORTCULLIS_CONFIG); `portcullis config example` prints one")]
            + all.map { option in
                let argument = switch option.kind {
                case .boolean: ""
                case .integer: " <n>"
                case .duration: " <duration>"
                case .size: " <size>"
                case .secretFile: " <file>"
                case .choice(let words): " <" + words.joined(separator: "|") + ">"
                case .string: " <value>"
                }
                return (option.flag + argument, option.help + (option.defaultValue.map { " (default \($0))" } ?? ""))
            }
        for (flag, help) in flags {
            out += "  \(flag)\n"
            out += wrap(help, indent: 6, width: width) + "\n"
        }
        return out
    }

    /// Levenshtein distance, for "did you mean".
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    static func wrap(_ text: String, indent: Int, width: Int) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, indent + line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines.map { String(repeating: " ", count: indent) + $0 }.joined(separator: "\n")
    }
}

extension ServeOptions {
    /// The README's configuration table (a test keeps the README equal to this).
    public static var markdownTable: String {
        var out = "| flag | file key | environment | default | meaning |\n|---|---|---|---|---|\n"
        for o in all {
            let shown = o.defaultValue.map { "`\($0)`" } ?? ""
            out += "| `\(o.flag)` | `\(o.key)` | " + (o.env.map { "`\($0)`" } ?? "") + " | \(shown) | \(o.help) |\n"
        }
        return out
    }
}
