import ArgumentParser
import Foundation
import Backends
import Logging
import Proxy
import Server

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Portcullis server.")

    @Option(help: "Address to listen on (host:port).")
    var listen = "127.0.0.1:8080"

    @Option(help: "Data directory (env PORTCULLIS_DATA_DIR).")
    var dataDir: String?

    @Option(help: "Scheme and host clients use, e.g. https://registry.example.com (default: each request's Host).")
    var publicURL: String?

    @Option(help: "PEM certificate chain for native HTTPS.")
    var tlsCert: String?

    @Option(help: "PEM private key for native HTTPS.")
    var tlsKey: String?

    @Flag(help: "Offer HTTP/2 over TLS as well as HTTP/1.1 (ALPN). Measured slower for blobs here: see bench/RESULTS.md.")
    var http2 = false

    @Option(help: "Registry token lifetime, e.g. 5m. Revoked licenses stop at once; tokens never outlive this.")
    var tokenTTL = "5m"

    @Option(help: "How long a proxied tag is served from cache before re-checking upstream, e.g. 60s.")
    var tagTTL = "60s"

    @Option(help: "How long past its TTL a cached tag may be served while the upstream fails, e.g. 24h.")
    var staleLimit = "24h"

    @Option(help: "How long to wait for an upstream's response, e.g. 30s.")
    var upstreamTimeout = "30s"

    @Option(help: "Failed logins per source address or credential within a minute before 429 (0 disables).")
    var loginFailureLimit = 10

    @Option(help: "Refused requests of one customer within an hour that send a pull.refused webhook event.")
    var refusedPullThreshold = 20

    @Option(help: "How often licenses are checked for license.expiring webhook events, e.g. 10m.")
    var expiryScanInterval = "10m"

    @Option(help: "Anonymous requests per source address per minute, for repositories the vendor made public (0 refuses them all).")
    var anonymousRateLimit = 300

    @Option(help: "How long in-flight requests may finish after SIGTERM, e.g. 30s.")
    var shutdownGrace = "30s"

    @Option(help: "PostgreSQL for metadata, postgres://USER:PASS@HOST:PORT/DB (env PORTCULLIS_DATABASE_URL; default SQLite in the data directory).")
    var database: String?

    @Option(help: "S3 or S3-compatible blob store, s3://BUCKET[/PREFIX] (env PORTCULLIS_BLOB_STORE; AWS_* variables for credentials, region, endpoint).")
    var blobStore: String?

    @Option(help: "Answer blob GETs with a redirect to a presigned object-store URL valid this long, e.g. 5m (needs an s3:// blob store).")
    var blobRedirect: String?

    @Option(help: "Largest size of the proxy cache, e.g. 50GiB or 80% (of the blob directory's disk); least recently pulled content is evicted past it. Default: unbounded.")
    var cacheMaxSize: String?

    @Option(help: "How often the cache's size is checked and pull times are written, e.g. 30s.")
    var cacheCheckInterval = "30s"

    @Option(help: "How long raw pull records are kept, e.g. 90d (daily summaries are kept for good). Default: for good.")
    var pullRetention: String?

    @Option(help: "File holding the secret key (default env PORTCULLIS_SECRET_KEY, else the data directory's secret.key).")
    var secretKeyFile: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Option(help: "Log format: text, or json (one object per line with ts, level, label, msg, source and the metadata's keys).")
    var logFormat = "text"

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if http2 && tlsCert == nil { throw ValidationError("--http2 needs --tls-cert and --tls-key (HTTP/2 is offered over TLS only)") }
    }

    func run() async throws {
        var config = ServerConfiguration()
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be host:port")
        }
        config.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        config.port = port
        config.dataDirectory = dataDir ?? ProcessInfo.processInfo.environment["PORTCULLIS_DATA_DIR"] ?? "./portcullis-data"
        config.publicURL = publicURL ?? ProcessInfo.processInfo.environment["PORTCULLIS_PUBLIC_URL"]
        config.tlsCertificatePath = tlsCert
        config.tlsKeyPath = tlsKey
        config.http2 = http2
        config.tokenLifetime = try Duration.parse(tokenTTL, option: "--token-ttl")
        config.tagTTL = try Duration.parse(tagTTL, option: "--tag-ttl")
        config.staleLimit = try Duration.parse(staleLimit, option: "--stale-limit")
        config.upstreamTimeout = try Duration.parse(upstreamTimeout, option: "--upstream-timeout")
        config.shutdownGrace = try Duration.parse(shutdownGrace, option: "--shutdown-grace")
        guard loginFailureLimit >= 0 else { throw ValidationError("--login-failure-limit must not be negative") }
        config.loginFailureLimit = loginFailureLimit
        guard anonymousRateLimit >= 0 else { throw ValidationError("--anonymous-rate-limit must not be negative") }
        config.anonymousRateLimit = anonymousRateLimit
        guard refusedPullThreshold >= 1 else { throw ValidationError("--refused-pull-threshold must be at least 1") }
        config.refusedPullThreshold = refusedPullThreshold
        config.expiryScanInterval = try Duration.parse(expiryScanInterval, option: "--expiry-scan-interval")
        if let cacheMaxSize {
            do { config.cacheLimit = try CacheLimit(parsing: cacheMaxSize) } catch { throw ValidationError("--cache-max-size: \(error)") }
        }
        config.cacheCheckInterval = try Duration.parse(cacheCheckInterval, option: "--cache-check-interval")
        guard config.cacheCheckInterval >= 0.1 else { throw ValidationError("--cache-check-interval must be at least 100ms") }
        if let pullRetention {
            config.pullRetention = try Duration.parse(pullRetention, option: "--pull-retention")
            guard config.pullRetention! >= 3600 else { throw ValidationError("--pull-retention must be at least 1h") }
        }
        let env = ProcessInfo.processInfo.environment
        config.databaseURL = database ?? env["PORTCULLIS_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        config.blobStoreURL = blobStore ?? env["PORTCULLIS_BLOB_STORE"].flatMap { $0.isEmpty ? nil : $0 }
        if let blobRedirect {
            let ttl = try Duration.parse(blobRedirect, option: "--blob-redirect")
            guard ttl >= 1, ttl <= 7 * 86400 else { throw ValidationError("--blob-redirect must be between 1s and 7d (what S3 presigns)") }
            config.blobRedirectTTL = Int(ttl)
        }
        if let secretKeyFile {
            guard let text = try? String(contentsOfFile: secretKeyFile, encoding: .utf8) else {
                throw ValidationError("cannot read --secret-key-file \(secretKeyFile)")
            }
            config.secretKey = try ServerSecrets.decodeKey(text)
        } else if let text = env["PORTCULLIS_SECRET_KEY"], !text.isEmpty {
            config.secretKey = try ServerSecrets.decodeKey(text)
        }
        config.adminToken = env["PORTCULLIS_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let token = config.adminToken, token.count < 24 {
            throw ValidationError("PORTCULLIS_ADMIN_TOKEN must be at least 24 characters; a random one: openssl rand -hex 32")
        }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard logFormat == "text" || logFormat == "json" else { throw ValidationError("--log-format is text or json") }
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            try await PortcullisServer.run(config, logger: Logger(label: "portcullis"))
        } catch let error as StorageStartupError {
            // Said plainly, without a stack: which store, and why.
            FileHandle.standardError.write(Data("portcullis: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as CacheLimit.Invalid {
            FileHandle.standardError.write(Data("portcullis: --cache-max-size: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

enum Duration {
    /// `250ms`, `90s`, `5m`, `720h`, `30d`, or plain seconds.
    static func parse(_ text: String, option: String) throws -> TimeInterval {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let seconds = Double(text), seconds >= 0 { return seconds }
        if text.hasSuffix("ms"), let millis = Double(text.dropLast(2)), millis >= 0 { return millis / 1000 }
        guard let unit = text.last, let factor = units[unit], let value = Double(text.dropLast()), value >= 0 else {
            throw ValidationError("\(option) takes a duration such as 250ms, 90s, 5m, 720h or 30d")
        }
        return value * factor
    }
}
