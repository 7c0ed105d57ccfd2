import Foundation
import Yams

/// A map as templates see it. Go maps are references: `set`, `merge` and friends change the map
/// every holder sees, and charts rely on that (`$_ := set $ctx "key" value`, then `$ctx`), so this
/// is a class. Renders are single-threaded; a map never leaves the render that made it.
final class TemplateMap {
    var entries: [String: TemplateValue]
    /// True for `.Files` (and what its `Glob` returns): file paths to their text, with methods.
    var isFiles = false

    init(_ entries: [String: TemplateValue] = [:], isFiles: Bool = false) {
        self.entries = entries
        self.isFiles = isFiles
    }

    subscript(key: String) -> TemplateValue? {
        get { entries[key] }
        set { entries[key] = newValue }
    }

    var keys: Dictionary<String, TemplateValue>.Keys { entries.keys }
    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var sortedKeys: [String] { entries.keys.sorted() }

    /// A copy down to every nested map, so changes to it reach nothing else.
    func deepCopy() -> TemplateMap {
        TemplateMap(entries.mapValues { $0.deepCopy() }, isFiles: isFiles)
    }
}

/// A value inside template evaluation: what `.Values` and template functions produce. Text
/// keeps its origins; anything the tooling cannot evaluate is `unknown`, with the reason,
/// and poisons whatever is computed from it.
indirect enum TemplateValue {
    case string(TracedText)
    case bool(Bool)
    /// Go's `int`: template literals, `len`, `int`, arithmetic.
    case int(Int, TracedText?)
    /// Go's `float64`: every number of a values file or of `fromYaml` is one, as in Helm.
    case float(Double, TracedText?)
    case map(TemplateMap)
    case list([TemplateValue])
    case null
    case unknown(String)

    static func dict(_ entries: [String: TemplateValue]) -> TemplateValue { .map(TemplateMap(entries)) }

    static func text(_ s: String, _ what: String = "computed") -> TemplateValue { .string(.computed(s, what)) }

    /// Go template truth: false, 0, nil and empty are false.
    var truth: Bool? {
        switch self {
        case .string(let t): !t.isEmpty
        case .bool(let b): b
        case .int(let i, _): i != 0
        case .float(let d, _): d != 0
        case .map(let m): !m.isEmpty
        case .list(let l): !l.isEmpty
        case .null: false
        case .unknown: nil
        }
    }

    var isUnknown: Bool {
        if case .unknown = self { return true }
        return false
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    var unknownReason: String? {
        if case .unknown(let why) = self { return why }
        return nil
    }

    var mapValue: TemplateMap? {
        if case .map(let m) = self { return m }
        return nil
    }

    var listValue: [TemplateValue]? {
        if case .list(let l) = self { return l }
        return nil
    }

    /// The text `{{ value }}` prints, as Go's `%v` would.
    var text: TracedText? {
        switch self {
        case .string(let t): t
        case .bool(let b): .computed(b ? "true" : "false")
        case .int(let i, let t): t ?? .computed(String(i))
        case .float(let d, let t): t ?? .computed(Self.format(d))
        case .null: TracedText()
        case .map, .list: .computed(plain)
        case .unknown: nil
        }
    }

    /// Go's `%v` of a float64.
    static func format(_ d: Double) -> String { GoFormat.float(d) }

    /// Untraced text, for comparisons and keys: Go's `%v`.
    var plain: String {
        switch self {
        case .string(let t): t.string
        case .bool(let b): b ? "true" : "false"
        case .int(let i, _): String(i)
        case .float(let d, _): Self.format(d)
        case .null: "<nil>"
        case .map(let m): "map[" + m.sortedKeys.map { "\($0):\(m[$0]!.plain)" }.joined(separator: " ") + "]"
        case .list(let l): "[" + l.map(\.plain).joined(separator: " ") + "]"
        case .unknown: ""
        }
    }

    /// The string a function taking text sees (`<nil>` prints as nothing there, as sprig's `toString` of nil is empty).
    var string: String {
        if case .null = self { return "" }
        return plain
    }

    subscript(key: String) -> TemplateValue {
        switch self {
        case .map(let m):
            // Go calls a method named in a field chain: `(.Files.Glob "x").AsConfig`.
            if m[key] == nil, m.isFiles, key == "AsConfig" || key == "AsSecrets" { ChartContext.files(key, on: m, []) } else { m[key] ?? .null }
        case .unknown: self
        default: .null
        }
    }

    func path(_ keys: [String]) -> TemplateValue {
        keys.reduce(self) { $0[$1] }
    }

    /// A copy whose maps are new maps (`deepCopy`, and values each render may change freely).
    func deepCopy() -> TemplateValue {
        switch self {
        case .map(let m): .map(m.deepCopy())
        case .list(let l): .list(l.map { $0.deepCopy() })
        default: self
        }
    }

    /// Helm's coalescing of values: `override` wins, maps merge key by key. Builds new maps.
    static func merged(_ base: TemplateValue, _ override: TemplateValue) -> TemplateValue {
        guard case .map(let b) = base, case .map(let o) = override else {
            if case .null = override { return base }
            return override
        }
        var out = b.entries
        for (k, v) in o.entries { out[k] = merged(out[k] ?? .null, v) }
        return .dict(out)
    }

    // MARK: From YAML

    /// A values document, every scalar traced to its place in `file`.
    /// With `typed` false every scalar is text, as Helm reads Chart.yaml.
    static func from(_ node: Node, file: String, path: [String] = [], typed: Bool = true) -> TemplateValue {
        switch node {
        case .mapping(let mapping):
            var out: [String: TemplateValue] = [:]
            for (key, value) in mapping {
                let k = TracedYAML.key(key)
                out[k] = from(value, file: file, path: path + [k], typed: typed)
            }
            return .dict(out)
        case .sequence(let sequence):
            return .list(sequence.enumerated().map { from($1, file: file, path: path + ["[\($0)]"], typed: typed) })
        case .scalar(let scalar):
            let raw = scalar.string
            let traced = scalar.mark.map {
                TracedText(raw, origin: TextOrigin(kind: .value(path: path.joined(separator: ".")), file: file, line: $0.line,
                                                  column: $0.column, text: raw))
            } ?? .computed(raw)
            return typed ? Self.typed(traced, plain: scalar.style == .plain) : .string(traced)
        case .alias:
            return .unknown("YAML alias")
        }
    }

    /// A YAML scalar as Helm reads it (through JSON): quoted text is a string; plain text may be
    /// a bool, null or number, and numbers are float64.
    static func typed(_ traced: TracedText, plain: Bool) -> TemplateValue {
        guard plain else { return .string(traced) }
        let raw = traced.string
        // YAML 1.1, as Helm's reader resolves it: `yes`, `on` and `y` are true too.
        switch raw {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y": return .bool(true)
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N": return .bool(false)
        case "null", "Null", "NULL", "~", "": return .null
        default: break
        }
        // Printed as Go prints a float64: `1000000` comes out as `1e+06`, so its origin goes.
        if let i = Int(raw) { return .float(Double(i), format(Double(i)) == raw ? traced : nil) }
        if raw.hasPrefix("0x"), let i = Int(raw.dropFirst(2), radix: 16) { return .float(Double(i), nil) }
        if let d = Double(raw), raw.contains(where: { $0.isNumber }), !raw.lowercased().contains("n") {
            return .float(d, format(d) == raw ? traced : nil)
        }
        return .string(traced)
    }
}
