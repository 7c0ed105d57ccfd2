import Foundation
import Testing
@testable import ServeSettings

@Suite struct ConfigFileTests {
    @Test func theCatalogueNamesEachSettingOnce() {
        for path in [\ServeOption.key, \ServeOption.flag] {
            let names = ServeOptions.all.map { $0[keyPath: path] }
            #expect(Set(names).count == names.count)
        }
        let envs = ServeOptions.all.compactMap(\.env)
        #expect(Set(envs).count == envs.count)
        #expect(ServeOptions.all.allSatisfy { $0.kind != .secretFile || $0.key.hasSuffix("File") })
    }

    @Test func theExampleIsCompleteAndAccepted() throws {
        let example = ConfigFile.example()
        let settings = try ConfigFile.parse(example, path: "example.yaml")
        #expect(Set(settings.keys) == Set(ServeOptions.all.filter { $0.defaultValue != nil }.map(\.key)))
        for option in ServeOptions.all {
            #expect(example.contains("\(option.key):"), "\(option.key) is in the example")
            #expect(example.contains(option.flag))
        }
        #expect(settings["tagTTL"] == Setting("60s", from: .file(path: "example.yaml", line: lineOf("tagTTL:", in: example))))
    }

    func lineOf(_ text: String, in file: String) -> Int {
        (file.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(text) } ?? -1) + 1
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var yaml: String
        var message: String
        var testDescription: String { message }
    }

    static let bad: [Bad] = [
        Bad(yaml: "listen: 127.0.0.1:9000\ntagTtl: 5m\n", message: "c.yaml:2: unknown key \"tagTtl\"; did you mean tagTTL?"),
        Bad(yaml: "cache-max-size: 5GiB\n", message: "c.yaml:1: unknown key \"cache-max-size\"; did you mean cacheMaxSize?"),
        Bad(yaml: "listen: a\nlisten: b\n", message: "c.yaml:2: listen is set twice (first on line 1)"),
        Bad(yaml: "\n\ntagTTL: [1, 2]\n", message: "c.yaml:3: tagTTL takes a single value"),
        Bad(yaml: "tagTTL: soon\n", message: "c.yaml:1: tagTTL: expected a duration such as 250ms, 90s, 5m, 720h or 30d, got \"soon\""),
        // Past a century (or infinite) a duration would overflow the milliseconds it is kept in.
        Bad(yaml: "tokenTTL: inf\n", message: "c.yaml:1: tokenTTL: expected a duration such as 250ms, 90s, 5m, 720h or 30d, got \"inf\""),
        Bad(yaml: "tagTTL: 40000d\n", message: "c.yaml:1: tagTTL: expected a duration such as 250ms, 90s, 5m, 720h or 30d, got \"40000d\""),
        Bad(yaml: "loginFailureLimit: -1\n", message: "c.yaml:1: loginFailureLimit: expected a whole number"),
        Bad(yaml: "http2: yes please\n", message: "c.yaml:1: http2: expected true or false"),
        Bad(yaml: "cacheMaxSize: lots\n", message: "c.yaml:1: cacheMaxSize: cache size \"lots\" is not a size"),
        Bad(yaml: "secretKeyFile: /nonexistent/key\n", message: "c.yaml:1: secretKeyFile: cannot read the secret file /nonexistent/key"),
        Bad(yaml: "listen: [unclosed\n", message: "c.yaml:2: not valid YAML"),
        Bad(yaml: "- listen\n", message: "c.yaml:1: expected a mapping of settings"),
    ]

    @Test(arguments: bad)
    func problemsNameTheFileTheLineAndWhatIsWrong(_ bad: Bad) {
        do {
            _ = try ConfigFile.parse(bad.yaml, path: "c.yaml")
            Issue.record("accepted \(bad.yaml)")
        } catch {
            #expect(error.description.hasPrefix(bad.message), "\(error.description)")
        }
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFileWhichWinsOverDefaults() throws {
        let file = try ConfigFile.parse("tagTTL: 2m\nstaleLimit: 1h\nupstreamTimeout: 5s\n", path: "c.yaml")
        let resolved = try ResolvedSettings(flags: ["tagTTL": "3m"], environment: ["PORTCULLIS_TAG_TTL": "4m", "PORTCULLIS_STALE_LIMIT": "2h"],
                                            file: file)
        #expect(resolved["tagTTL"] == Setting("3m", from: .flag("--tag-ttl")))
        #expect(resolved["staleLimit"] == Setting("2h", from: .environment("PORTCULLIS_STALE_LIMIT")))
        #expect(resolved["upstreamTimeout"] == Setting("5s", from: .file(path: "c.yaml", line: 3)))
        #expect(resolved["shutdownGrace"] == Setting("30s", from: .defaultValue))
        #expect(resolved["cacheMaxSize"] == nil, "unset by default")
        #expect(throws: SettingsError("$PORTCULLIS_TOKEN_TTL: tokenTTL: expected a duration such as 250ms, 90s, 5m, 720h or 30d, got \"x\"")) {
            try ResolvedSettings(flags: [:], environment: ["PORTCULLIS_TOKEN_TTL": "x"], file: [:])
        }
    }

    @Test func secretsComeFromFilesThatMustBeReadableAndNotEmpty() throws {
        let path = NSTemporaryDirectory() + "secret-" + UUID().uuidString
        FileManager.default.createFile(atPath: path, contents: Data("  \n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: SettingsError("c.yaml:1: adminTokenFile: the secret file \(path) is empty")) {
            try ConfigFile.parse("adminTokenFile: \(path)\n", path: "c.yaml")
        }
        try Data("s3cr3t-token\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try ConfigFile.parse("adminTokenFile: \(path)\n", path: "c.yaml")["adminTokenFile"]?.value == path)
        #expect(SettingValue.secret(fromFile: path) == "s3cr3t-token")
    }

    @Test(arguments: [("250ms", 0.25), ("90s", 90), ("5m", 300), ("720h", 2_592_000), ("30d", 2_592_000), ("12", 12)])
    func durations(text: String, seconds: Double) {
        #expect(SettingValue.duration(text) == seconds)
    }
}

/// `serve`'s command line is read by the catalogue: every setting has exactly one flag, and
/// what the flags say is validated as the file and the environment are.
@Suite struct ServeFlagTests {
    @Test func everySettingIsAFlagInBothSpellings() throws {
        for option in ServeOptions.all {
            let value = option.kind == .boolean ? "true" : "v"
            let spaced = try ServeOptions.parseFlags(option.kind == .boolean ? [option.flag] : [option.flag, value])
            let joined = try ServeOptions.parseFlags(["\(option.flag)=\(value)"])
            #expect(spaced.flags == [option.key: value])
            #expect(joined.flags == [option.key: value])
        }
        #expect(Set(ServeOptions.all.map(\.flag)).count == ServeOptions.all.count)
    }

    @Test func configAndBooleans() throws {
        let parsed = try ServeOptions.parseFlags(["--config", "p.yaml", "--http2", "--allow-private-upstreams=false", "--listen=127.0.0.1:0"])
        #expect(parsed.configPath == "p.yaml")
        #expect(parsed.flags == ["http2": "true", "allowPrivateUpstreams": "false", "listen": "127.0.0.1:0"])
    }

    @Test func mistakesAreSaidPlainly() {
        #expect(throws: SettingsError("unknown flag --lisen; did you mean --listen? (`portcullis serve --help` lists them)")) {
            try ServeOptions.parseFlags(["--lisen", "x"])
        }
        #expect(throws: SettingsError("--listen needs a value")) { try ServeOptions.parseFlags(["--listen"]) }
        #expect(throws: SettingsError("--listen needs a value")) { try ServeOptions.parseFlags(["--listen", "--http2"]) }
        #expect(throws: SettingsError("--listen is given twice")) { try ServeOptions.parseFlags(["--listen", "a:1", "--listen=b:2"]) }
        #expect(throws: SettingsError("unexpected argument \"stray\": serve takes only flags (`portcullis serve --help` lists them)")) {
            try ServeOptions.parseFlags(["stray"])
        }
    }

    /// `config check` and `serve` refuse the same values: a choice outside its words is refused by both.
    @Test func choicesAreCheckedWhereverTheyComeFrom() throws {
        #expect(throws: SettingsError("--log-level: logLevel: expected one of trace, debug, info, notice, warning, error, got \"verbose\"")) {
            try ResolvedSettings(flags: ["logLevel": "verbose"], environment: [:], file: [:])
        }
        #expect(throws: SettingsError("$PORTCULLIS_LOG_FORMAT: logFormat: expected one of text, json, got \"xml\"")) {
            try ResolvedSettings(flags: [:], environment: ["PORTCULLIS_LOG_FORMAT": "xml"], file: [:])
        }
        #expect(throws: SettingsError("c.yaml:1: logFormat: expected one of text, json, got \"xml\"")) {
            try ConfigFile.parse("logFormat: xml\n", path: "c.yaml")
        }
    }

    @Test func helpListsEveryFlagWithinItsWidth() {
        let help = ServeOptions.flagHelp(width: 76)
        for option in ServeOptions.all { #expect(help.contains("  \(option.flag)")) }
        #expect(help.split(separator: "\n").allSatisfy { $0.count <= 76 })
    }

    @Test func nearMisses() {
        #expect(ServeOptions.editDistance("--lisen", "--listen") == 1)
        #expect(ServeOptions.editDistance("", "abc") == 3)
        #expect(ServeOptions.editDistance("abc", "") == 3)
    }
}
