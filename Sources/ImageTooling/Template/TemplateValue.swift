import Foundation
import Yams

/// A value inside template evaluation: what `.Values` and template functions produce. Text
/// keeps its origins; anything the tooling cannot evaluate is `unknown`, with the reason,
/// and poisons whatever is computed from it.
indirect enum TemplateValue: Sendable {
    case string(TracedText)
    case bool(Bool)
    case int(Int, TracedText?)
    case float(Double, TracedText?)
    case map([String: TemplateValue])
    case list([TemplateValue])
    case null
    case unknown(String)

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

    var unknownReason: String? {
        if case .unknown(let why) = self { return why }
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

    /// Go's `%v` of a float64: integral values print without a fraction.
    static func format(_ d: Double) -> String {
        // Beyond Int64 an integral value still prints in full below 1e21, as Go does.
        if d.rounded() == d, abs(d) < 1e21 {
            return Int64(exactly: d).map { String($0) } ?? String(format: "%.0f", d)
        }
        return String(d)
    }

    /// Untraced text, for comparisons and keys.
    var plain: String {
        switch self {
        case .string(let t): t.string
        case .bool(let b): b ? "true" : "false"
        case .int(let i, _): String(i)
        case .float(let d, _): Self.format(d)
        case .null: ""
        case .map(let m): "map[" + m.keys.sorted().map { "\($0):\(m[$0]!.plain)" }.joined(separator: " ") + "]"
        case .list(let l): "[" + l.map(\.plain).joined(separator: " ") + "]"
        case .unknown: ""
        }
    }

    subscript(key: String) -> TemplateValue {
        switch self {
        case .map(let m): m[key] ?? .null
        case .unknown: self
        default: .null
        }
    }

    func path(_ keys: [String]) -> TemplateValue {
        keys.reduce(self) { $0[$1] }
    }

    /// Helm's coalescing of values: `override` wins, maps merge key by key.
    static func merged(_ base: TemplateValue, _ override: TemplateValue) -> TemplateValue {
        guard case .map(var b) = base, case .map(let o) = override else {
            if case .null = override { return base }
            return override
        }
        for (k, v) in o { b[k] = merged(b[k] ?? .null, v) }
        return .map(b)
    }

    // MARK: From YAML

    /// A values document, every scalar traced to its place in `file`.
    static func from(_ node: Node, file: String, path: [String] = []) -> TemplateValue {
        switch node {
        case .mapping(let mapping):
            var out: [String: TemplateValue] = [:]
            for (key, value) in mapping {
                let k = key.string ?? key.scalar?.string ?? "?"
                out[k] = from(value, file: file, path: path + [k])
            }
            return .map(out)
        case .sequence(let sequence):
            return .list(sequence.enumerated().map { from($1, file: file, path: path + ["[\($0)]"]) })
        case .scalar(let scalar):
            return fromScalar(scalar, file: file, path: path)
        case .alias:
            return .unknown("YAML alias")
        }
    }

    private static func fromScalar(_ scalar: Node.Scalar, file: String, path: [String]) -> TemplateValue {
        let raw = scalar.string
        let traced = scalar.mark.map {
            TracedText(raw, origin: TextOrigin(kind: .value(path: path.joined(separator: ".")), file: file, line: $0.line,
                                              column: $0.column, text: raw))
        } ?? .computed(raw)
        guard scalar.style == .plain else { return .string(traced) }
        switch raw {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case "null", "Null", "NULL", "~", "": return .null
        default: break
        }
        if let i = Int(raw) { return .int(i, String(i) == raw ? traced : nil) }
        if let d = Double(raw), raw.contains(where: { $0.isNumber }) {
            return .float(d, format(d) == raw ? traced : nil)
        }
        return .string(traced)
    }
}
