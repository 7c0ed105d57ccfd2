import Charts
import Foundation
import PortcullisAPI
import Proxy
import Yams
import YAMLSafety

/// Where a setting's value came from, as an error message names it.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    case flag(String)
    case environment(String)
    case file(path: String, line: Int)
    case defaultValue

    public var description: String {
        switch self {
        case .flag(let name): name
        case .environment(let name): "$\(name)"
        case .file(let path, let line): "\(path):\(line)"
        case .defaultValue: "the default"
        }
    }
}

public struct Setting: Sendable, Equatable {
    public var value: String
    public var source: SettingSource

    public init(_ value: String, from source: SettingSource) {
        self.value = value
        self.source = source
    }
}

/// A configuration that cannot be used, said once with where (file and line, flag or
/// variable) and what is wrong.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `portcullis serve --config FILE`: every serve setting in one flat YAML mapping, keys as in
/// `ServeOptions`. A typo is an error, never a silent default.
public enum ConfigFile {
    public static func load(path: String) throws(SettingsError) -> [String: Setting] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SettingsError("\(path): cannot read the file") }
        guard let text = String(data: data, encoding: .utf8) else { throw SettingsError("\(path): not UTF-8 text") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(SettingsError) -> [String: Setting] {
        let root: Node?
        do {
            root = try YAMLBudget.compose(text)
        } catch let error as YAMLBudget.Exceeded {
            throw SettingsError("\(path): \(error.description)")
        } catch YamlError.duplicatedKeysInMapping(let keys, _) {
            // Said with both lines: the parser only knows where the mapping starts.
            let key = keys.sorted().first ?? ""
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .filter { $0.element.hasPrefix(key + ":") }.map { $0.offset + 1 }
            throw SettingsError("\(path):\(lines.dropFirst().first ?? 1): \(key) is set twice (first on line \(lines.first ?? 1))")
        } catch let error as YamlError {
            throw SettingsError("\(path):\(error.line.map(String.init) ?? "?"): not valid YAML: \(error.problem)")
        } catch {
            throw SettingsError("\(path): not valid YAML")
        }
        guard let root else { return [:] }
        guard let mapping = root.mapping else {
            throw SettingsError("\(path):\(root.mark?.line ?? 1): expected a mapping of settings (key: value)")
        }
        var settings: [String: Setting] = [:]
        for (keyNode, valueNode) in mapping {
            let line = keyNode.mark?.line ?? 0
            guard let key = keyNode.scalar?.string else { throw SettingsError("\(path):\(line): a key must be a plain name") }
            guard let option = ServeOptions.option(key: key) else {
                throw SettingsError("\(path):\(line): unknown key \(key.debugDescription)" + suggestion(for: key))
            }
            guard let scalar = valueNode.scalar else {
                throw SettingsError("\(path):\(line): \(key) takes a single value (\(describe(option.kind))), not a list or mapping")
            }
            let setting = Setting(scalar.string, from: .file(path: path, line: valueNode.mark?.line ?? line))
            try SettingValue.validate(setting, option)
            settings[key] = setting
        }
        return settings
    }

    private static func suggestion(for key: String) -> String {
        let lower = key.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        if let close = ServeOptions.all.first(where: { $0.key.lowercased() == lower || $0.flag == "--" + key }) {
            return "; did you mean \(close.key)?"
        }
        return "; the keys are listed by `portcullis config example`"
    }

    static func describe(_ kind: ServeOption.Kind) -> String {
        switch kind {
        case .string: "a string"
        case .integer: "a whole number"
        case .boolean: "true or false"
        case .duration: "a duration such as 250ms, 90s, 5m, 720h or 30d"
        case .size: "a size such as 50GiB, 500MB or 80%"
        case .secretFile: "the path of a file holding the secret"
        case .choice(let words): "one of " + words.joined(separator: ", ")
        }
    }

    /// A complete, commented file with every setting at its default (settings unset by
    /// default are shown commented out); `config check` accepts it.
    public static func example() -> String {
        var out = """
            # portcullis serve --config portcullis.yaml
            # Every setting of `portcullis serve`. A flag overrides the environment variable named
            # in each comment, which overrides this file, which overrides the default. Unknown keys
            # are errors. Secrets go in files (*File keys), not in this file.

            """
        for option in ServeOptions.all {
            out += "\n# \(option.help)\n# flag \(option.flag)" + (option.env.map { ", environment \($0)" } ?? "") + "\n"
            if let value = option.defaultValue {
                out += "\(option.key): \(quoted(value))\n"
            } else {
                out += "# \(option.key): \(quoted(option.example ?? ""))\n"
            }
        }
        return out
    }

    private static func quoted(_ value: String) -> String {
        value.contains(where: { ":#{}[],&*!|>'\"%@`".contains($0) }) || value.isEmpty ? "\"\(value)\"" : value
    }
}

/// Settings from every source, the first that has one winning: flags, then the environment,
/// then the file, then the defaults.
public struct ResolvedSettings: Sendable {
    private var settings: [String: Setting] = [:]

    /// `flags` and `environment` are keyed by option key and by variable name.
    public init(flags: [String: String], environment: [String: String], file: [String: Setting]) throws(SettingsError) {
        for option in ServeOptions.all {
            let chosen: Setting?
            if let value = flags[option.key] {
                chosen = Setting(value, from: .flag(option.flag))
            } else if let name = option.env, let value = environment[name], !value.isEmpty {
                chosen = Setting(value, from: .environment(name))
            } else if let value = file[option.key] {
                chosen = value
            } else {
                chosen = option.defaultValue.map { Setting($0, from: .defaultValue) }
            }
            if let chosen {
                try SettingValue.validate(chosen, option)
                settings[option.key] = chosen
            }
        }
    }

    public subscript(key: String) -> Setting? { settings[key] }
}

/// Reading and checking one value of a given kind; errors name where it came from.
public enum SettingValue {
    static func validate(_ setting: Setting, _ option: ServeOption) throws(SettingsError) {
        let value = setting.value
        func fail(_ why: String) -> SettingsError { SettingsError("\(setting.source): \(option.key): \(why)") }
        switch option.kind {
        case .string:
            guard !value.isEmpty else { throw fail("must not be empty") }
        case .integer:
            guard let n = Int(value), n >= 0 else { throw fail("expected a whole number, got \(value.debugDescription)") }
        case .boolean:
            guard value == "true" || value == "false" else { throw fail("expected true or false, got \(value.debugDescription)") }
        case .choice(let words):
            guard words.contains(value) else { throw fail("expected \(ConfigFile.describe(option.kind)), got \(value.debugDescription)") }
        case .duration:
            guard duration(value) != nil else { throw fail("expected \(ConfigFile.describe(.duration)), got \(value.debugDescription)") }
        case .size:
            do { _ = try CacheLimit(parsing: value) } catch { throw fail("\(error)") }
        case .secretFile:
            guard let contents = try? String(contentsOfFile: value, encoding: .utf8) else {
                throw fail("cannot read the secret file \(value)")
            }
            guard !contents.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fail("the secret file \(value) is empty") }
        }
    }

    /// `250ms`, `90s`, `5m`, `720h`, `30d`, or plain seconds.
    public static func duration(_ text: String) -> TimeInterval? {
        let seconds: Double
        if let plain = Double(text) {
            seconds = plain
        } else if text.hasSuffix("ms"), let millis = Double(text.dropLast(2)) {
            seconds = millis / 1000
        } else {
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
            guard let unit = text.last, let factor = units[unit], let value = Double(text.dropLast()) else { return nil }
            seconds = value * factor
        }
        guard seconds >= 0, seconds <= DurationLimit.longest else { return nil }
        return seconds
    }

    /// A secret file's content without surrounding whitespace.
    public static func secret(fromFile path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
