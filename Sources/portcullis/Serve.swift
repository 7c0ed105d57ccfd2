import ArgumentParser
import Foundation
import Backends
import Logging
import OTel
import Proxy
import Server
import ServiceLifecycle
import ServeSettings
import Storage

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Portcullis server.",
        discussion: """
            Every setting is a flag, a key of the --config file and an environment
            variable (`portcullis config options` lists them); a flag wins over the
            environment, which wins over the file, which wins over the default.

            """ + "\n" + ServeOptions.flagHelp(width: 76))

    /// The flags, read by the settings catalogue (`ServeOptions`), where each is declared once
    /// with its file key, variable, default and help.
    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let settings: ResolvedSettings
        var config: ServerConfiguration
        let level: Logger.Level
        let json: Bool
        do {
            let given = try ServeOptions.parseFlags(arguments)
            let path = given.configPath ?? env["PORTCULLIS_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
            let file = try path.map { path throws(SettingsError) in try ConfigFile.load(path: path) } ?? [:]
            settings = try ResolvedSettings(flags: given.flags, environment: env, file: file)
            config = try Self.serverConfiguration(settings, environment: env)
            // Both are choices the catalogue has already checked.
            level = Logger.Level(rawValue: settings["logLevel"]!.value) ?? .info
            json = settings["logFormat"]!.value == "json"
        } catch {
            // Said plainly, before any port is bound: where, and what is wrong.
            FileHandle.standardError.write(Data("portcullis: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let why = ListenProbe.refusal(host: config.host, port: config.port) {
            FileHandle.standardError.write(Data("portcullis: cannot listen on \(config.listenAuthority): \(why); choose another address with --listen HOST:PORT\n".utf8))
            throw ExitCode(2)
        }
        var observability: [any Service] = []
        var traceIDs: Logger.MetadataProvider?
        if let endpoint = settings["otelEndpoint"] {
            do {
                observability.append(try Self.bootstrapTracing(endpoint))
            } catch {
                FileHandle.standardError.write(Data("portcullis: \(endpoint.source): otelEndpoint: \(error)\n".utf8))
                throw ExitCode(2)
            }
            traceIDs = OTel.makeLoggingMetadataProvider()
            config.tracing = true
        }
        LoggingSystem.bootstrap({ label, provider in
            if json { return JSONLogHandler(label: label, level: level, metadataProvider: provider) }
            var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
            handler.logLevel = level
            return handler
        }, metadataProvider: traceIDs)
        do {
            try await PortcullisServer.run(config, observability: observability, logger: Logger(label: "portcullis"))
        } catch let error as StorageStartupError {
            FileHandle.standardError.write(Data("portcullis: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as DataDirectoryError {
            FileHandle.standardError.write(Data("portcullis: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as CacheLimit.Invalid {
            FileHandle.standardError.write(Data("portcullis: --cache-max-size: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Traces over OTLP/HTTP (protobuf, or JSON with OTEL_EXPORTER_OTLP_PROTOCOL=http/json); no
    /// OTel logs or metrics: logs go to standard error and metrics to /metrics as before.
    static func bootstrapTracing(_ endpoint: Setting) throws -> some Service {
        var otel = OTel.Configuration.default
        otel.serviceName = "portcullis"
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.enabled = true
        otel.traces.otlpExporter.protocol = .httpProtobuf
        var environment = ProcessInfo.processInfo.environment
        if endpoint.source != .environment("OTEL_EXPORTER_OTLP_ENDPOINT") {
            // A flag or the file: it wins over the OTEL_ variables, as every flag does.
            let base = endpoint.value.hasSuffix("/") ? String(endpoint.value.dropLast()) : endpoint.value
            otel.traces.otlpExporter.endpoint = base + "/v1/traces"
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = nil
            environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = nil
        }
        guard endpoint.value.hasPrefix("http://") || endpoint.value.hasPrefix("https://") else {
            throw SettingsError("the endpoint must be an http:// or https:// URL")
        }
        return try OTel.bootstrap(configuration: otel, environment: environment)
    }

    /// The server's configuration from resolved settings; every problem names its source.
    static func serverConfiguration(_ s: ResolvedSettings, environment env: [String: String]) throws(SettingsError) -> ServerConfiguration {
        var config = ServerConfiguration()
        func value(_ key: String) -> Setting? { s[key] }
        func fail(_ key: String, _ why: String) -> SettingsError {
            SettingsError("\(value(key)?.source.description ?? key): \(key): \(why)")
        }
        func duration(_ key: String) -> TimeInterval? { value(key).flatMap { SettingValue.duration($0.value) } }
        func integer(_ key: String) -> Int? { value(key).flatMap { Int($0.value) } }

        let listen = value("listen")!.value
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw fail("listen", "must be host:port")
        }
        guard (0...65535).contains(port) else { throw fail("listen", "port \(port) is not a port (0-65535; 0 takes a free one)") }
        config.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        config.port = port
        config.dataDirectory = value("dataDir")!.value
        if let publicURL = value("publicURL")?.value {
            if let why = ServerConfiguration.publicURLProblem(publicURL) { throw fail("publicURL", why) }
            config.publicURL = publicURL
        }
        if let advertised = value("advertiseURL")?.value {
            guard let url = ServerConfiguration.advertiseURL(parsing: advertised) else {
                throw fail("advertiseURL", "must be an http:// or https:// URL of this replica, such as http://10.0.3.7:8080")
            }
            config.advertiseURL = url
        }
        config.tlsCertificatePath = value("tlsCert")?.value
        config.tlsKeyPath = value("tlsKey")?.value
        if (config.tlsCertificatePath == nil) != (config.tlsKeyPath == nil) { throw SettingsError("tlsCert and tlsKey go together") }
        config.http2 = value("http2")?.value == "true"
        if config.http2 && config.tlsCertificatePath == nil {
            throw fail("http2", "needs tlsCert and tlsKey (HTTP/2 is offered over TLS only)")
        }
        config.tokenLifetime = duration("tokenTTL")!
        // Shorter, and a token expires before the request it was fetched for.
        guard config.tokenLifetime >= 1 else { throw fail("tokenTTL", "must be at least 1s") }
        config.tagTTL = duration("tagTTL")!
        config.staleLimit = duration("staleLimit")!
        config.upstreamTimeout = duration("upstreamTimeout")!
        guard config.upstreamTimeout >= 1 else { throw fail("upstreamTimeout", "must be at least 1s (no upstream answers sooner)") }
        config.shutdownGrace = duration("shutdownGrace")!
        config.expiryScanInterval = duration("expiryScanInterval")!
        config.instanceInactiveAfter = duration("instanceInactiveAfter")!
        config.loginFailureLimit = integer("loginFailureLimit")!
        config.anonymousRateLimit = integer("anonymousRateLimit")!
        config.allowPrivateUpstreams = value("allowPrivateUpstreams")?.value == "true"
        config.metricsToken = value("metricsTokenFile").flatMap { SettingValue.secret(fromFile: $0.value) }
            ?? env["PORTCULLIS_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        config.refusedPullThreshold = integer("refusedPullThreshold")!
        guard config.refusedPullThreshold >= 1 else { throw fail("refusedPullThreshold", "must be at least 1") }
        if let size = value("cacheMaxSize") {
            do { config.cacheLimit = try CacheLimit(parsing: size.value) } catch { throw fail("cacheMaxSize", "\(error)") }
        }
        config.cacheCheckInterval = duration("cacheCheckInterval")!
        guard config.cacheCheckInterval >= 0.1 else { throw fail("cacheCheckInterval", "must be at least 100ms") }
        if let retention = duration("pullRetention") {
            guard retention >= 3600 else { throw fail("pullRetention", "must be at least 1h") }
            config.pullRetention = retention
        }
        if value("database") != nil, value("databaseFile") != nil { throw SettingsError("give database or databaseFile, not both") }
        config.databaseURL = value("database")?.value ?? value("databaseFile").flatMap { SettingValue.secret(fromFile: $0.value) }
        // Foundation reads any digits as the port and the driver keeps 16 bits of it: 99999
        // would connect to 34463, password and all.
        if let url = config.databaseURL, let port = URLComponents(string: url)?.port, !(1...65535).contains(port) {
            throw fail(value("database") != nil ? "database" : "databaseFile", "port \(port) is not a port (1-65535)")
        }
        config.blobStoreURL = value("blobStore")?.value
        if let ttl = duration("blobRedirect") {
            guard ttl >= 1, ttl <= 7 * 86400 else { throw fail("blobRedirect", "must be between 1s and 7d (what S3 presigns)") }
            config.blobRedirectTTL = Int(ttl)
        }
        do {
            if let file = value("secretKeyFile") {
                config.secretKey = try ServerSecrets.decodeKey(SettingValue.secret(fromFile: file.value) ?? "")
            } else if let text = env["PORTCULLIS_SECRET_KEY"], !text.isEmpty {
                config.secretKey = try ServerSecrets.decodeKey(text)
            }
        } catch {
            throw SettingsError("\(value("secretKeyFile")?.source.description ?? "$PORTCULLIS_SECRET_KEY"): \(error)")
        }
        config.adminToken = value("adminTokenFile").flatMap { SettingValue.secret(fromFile: $0.value) }
            ?? env["PORTCULLIS_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let token = config.adminToken, token.count < DataDirectory.shortestAdminToken {
            throw SettingsError("the admin token must be at least \(DataDirectory.shortestAdminToken) characters; a random one: openssl rand -hex 32")
        }
        return config
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "The configuration file of `portcullis serve`.", subcommands: [Check.self, Example.self, Options.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a configuration file without starting the server.")
        @Argument(help: "The YAML file.") var file: String

        func run() async throws {
            do {
                let settings = try ConfigFile.load(path: file)
                let resolved = try ResolvedSettings(flags: [:], environment: [:], file: settings)
                _ = try Serve.serverConfiguration(resolved, environment: [:])
                print("\(file): ok (\(settings.count) setting\(settings.count == 1 ? "" : "s"))")
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(2)
            }
        }
    }

    struct Example: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a complete, commented configuration file.")
        func run() async throws { print(ConfigFile.example(), terminator: "") }
    }

    struct Options: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every setting: key, flag, environment variable, default.")
        @Flag(help: "Print the README's configuration table.") var markdown = false
        @OptionGroup var output: OutputOptions

        func run() async throws {
            if markdown { return print(ServeOptions.markdownTable, terminator: "") }
            let rows = ServeOptions.all.map {
                SettingRow(key: $0.key, flag: $0.flag, env: $0.env ?? "", defaultValue: $0.defaultValue ?? "", help: $0.help)
            }
            Output.print(rows, format: output.output)
        }
    }
}

struct SettingRow: TableRow {
    var key: String
    var flag: String
    var env: String
    var defaultValue: String
    var help: String
    static let headers = ["KEY", "FLAG", "ENVIRONMENT", "DEFAULT"]
    var cells: [String] { [key, flag, env, defaultValue] }
}

enum Duration {
    /// `250ms`, `90s`, `5m`, `720h`, `30d`, or plain seconds, as every duration setting reads.
    static func parse(_ text: String, option: String) throws -> TimeInterval {
        guard let seconds = SettingValue.duration(text) else {
            throw ValidationError("\(option) takes a duration such as 250ms, 90s, 5m, 720h or 30d")
        }
        return seconds
    }
}
