import Yams
import YAMLSafety

/// YAML in and out of templates with origins kept: `include "pod" . | fromYaml | toYaml` hands
/// on the characters of every scalar from where they were written, so an image that travels
/// through a YAML round trip can still be rewritten in the values it came from.
enum TracedYAML {
    /// Nodes a `fromYaml` may visit (aliases counted each time they are expanded).
    static let maxNodes = 200_000

    struct TooLarge: Error {}

    /// `fromYaml` (and `fromYamlArray`): the first document of `text`, scalars sliced from it.
    /// A document that does not parse is Helm's `{"Error": …}` map (or a one-item list).
    static func parse(_ text: TracedText, array: Bool) -> TemplateValue {
        let source = text.string
        let node: Node?
        do {
            node = try YAMLBudget.compose(source)
        } catch let error as YAMLBudget.Exceeded {
            return .unknown("fromYaml: \(error.description)")
        } catch {
            if let why = text.unknownReason { return .unknown(why.reason) }
            return failure("error converting YAML to JSON: \(error)", array: array)
        }
        guard let node else { return array ? .list([]) : .dict([:]) }
        switch (node, array) {
        case (.mapping, false), (.sequence, true): break
        default: return failure("cannot unmarshal this document into a \(array ? "list" : "map")", array: array)
        }
        var reader = Reader(text: text)
        do { return try reader.value(node) } catch { return .unknown("fromYaml: the document expands beyond \(maxNodes) nodes") }
    }

    private static func failure(_ message: String, array: Bool) -> TemplateValue {
        array ? .list([.text(message)]) : .dict(["Error": .text(message)])
    }

    private struct Reader {
        let text: TracedText
        /// Where each line starts, in characters of `text`.
        var lineStarts: [Int] = [0]
        var visited = 0

        init(text: TracedText) {
            self.text = text
            for (i, c) in text.characters.enumerated() where c == "\n" || c == "\r\n" { lineStarts.append(i + 1) }
        }

        mutating func value(_ node: Node) throws(TooLarge) -> TemplateValue {
            visited += 1
            guard visited <= TracedYAML.maxNodes else { throw TooLarge() }
            switch node {
            case .mapping(let mapping):
                var out: [String: TemplateValue] = [:]
                for (key, value) in mapping { out[TracedYAML.key(key)] = try self.value(value) }
                return .dict(out)
            case .sequence(let sequence):
                var out: [TemplateValue] = []
                for item in sequence { out.append(try value(item)) }
                return .list(out)
            case .scalar(let scalar):
                return TemplateValue.typed(traced(scalar), plain: scalar.style == .plain)
            case .alias:
                return .unknown("YAML alias")
            }
        }

        /// The scalar's characters from `text` when they are written there as they read;
        /// computed text when the scalar was escaped or folded.
        func traced(_ scalar: Node.Scalar) -> TracedText {
            let value = scalar.string
            guard let mark = scalar.mark, mark.line >= 1, mark.line <= lineStarts.count else { return .computed(value) }
            var start = lineStarts[mark.line - 1] + mark.column - 1
            if scalar.style == .singleQuoted || scalar.style == .doubleQuoted { start += 1 }
            let count = value.count
            guard start >= 0, start + count <= text.count, String(text.characters[start..<(start + count)]) == value else {
                return .computed(value)
            }
            return text.slice(start..<(start + count))
        }
    }

    /// A mapping key as Helm reads it: YAML 1.1, so a plain `y` or `on` is the key `true`.
    static func key(_ node: Node) -> String {
        guard let scalar = node.scalar else { return node.string ?? "?" }
        guard scalar.style == .plain else { return scalar.string }
        switch TemplateValue.typed(.computed(scalar.string), plain: true) {
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        default: return scalar.string
        }
    }

    // MARK: Writing

    /// `toYaml`: block style, keys sorted, two-space indents, strings quoted as Go's YAML
    /// encoder quotes them; scalars keep their origins.
    static func write(_ value: TemplateValue) -> TracedText {
        var out = TracedText()
        write(value, indent: 0, into: &out)
        return out
    }

    private static func write(_ value: TemplateValue, indent: Int, into out: inout TracedText) {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .map(let map) where !map.isEmpty:
            for (i, key) in map.sortedKeys.enumerated() {
                if i > 0 { out.append(.computed("\n" + pad)) }
                out.append(scalar(.computed(key), indent: indent))
                out.append(.computed(":"))
                nested(map[key]!, indent: indent, into: &out)
            }
        case .list(let list) where !list.isEmpty:
            for (i, item) in list.enumerated() {
                if i > 0 { out.append(.computed("\n" + pad)) }
                out.append(.computed("- "))
                // A literal block under `- ` is indented from the dash, a mapping's keys from its first key.
                if case .string(let text) = item { out.append(scalar(text, indent: indent)) } else { write(item, indent: indent + 2, into: &out) }
            }
        case .map: out.append(.computed("{}"))
        case .list: out.append(.computed("[]"))
        case .string(let text): out.append(scalar(text, indent: indent))
        case .float(let d, let t):
            // Through JSON, as Helm's encoder goes: integral numbers print whole.
            if d.rounded() == d, abs(d) < 1e21, let i = Int64(exactly: d) {
                out.append(t?.string == String(i) ? t! : .computed(String(i)))
            } else {
                out.append(t?.string == GoFormat.float(d) ? t! : .computed(GoFormat.float(d)))
            }
        case .unknown(let why): out.append(.computed("<unknown: \(why)>"))
        case .null: out.append(.computed("null"))
        default: out.append(value.text ?? TracedText())
        }
    }

    private static func nested(_ value: TemplateValue, indent: Int, into out: inout TracedText) {
        switch value {
        case .map(let m) where !m.isEmpty:
            out.append(.computed("\n" + String(repeating: " ", count: indent + 2)))
            write(value, indent: indent + 2, into: &out)
        case .list(let l) where !l.isEmpty:
            out.append(.computed("\n" + String(repeating: " ", count: indent)))
            write(value, indent: indent, into: &out)
        default:
            out.append(.computed(" "))
            write(value, indent: indent, into: &out)
        }
    }

    /// A string as Go's YAML encoder writes it: plain when it reads back as the same string,
    /// double-quoted when it would read as another type, single-quoted when plain text cannot
    /// hold it, a literal block when it has lines.
    static func scalar(_ text: TracedText, indent: Int) -> TracedText {
        let s = text.string
        if s.contains("\n") {
            let pad = String(repeating: " ", count: indent + 2)
            var out = TracedText.computed(s.hasSuffix("\n") ? "|" : "|-")
            var start = 0
            let chars = text.characters
            let end = s.hasSuffix("\n") ? chars.count - 1 : chars.count
            for i in 0...end where i == end || chars[i] == "\n" {
                let line = text.slice(start..<i)
                out.append(.computed("\n" + (line.isEmpty ? "" : pad)))
                out.append(line)
                start = i + 1
            }
            return out
        }
        if readsAsOtherType(s) {
            let escaped = GoFormat.quoted(s)
            return escaped == "\"" + s + "\"" ? .computed("\"") + text + .computed("\"") : .computed(escaped)
        }
        guard needsQuotes(s) else { return text }
        if s.contains("'") { return .computed("'" + s.replacingOccurrences(of: "'", with: "''") + "'") }
        return .computed("'") + text + .computed("'")
    }

    /// True for text a YAML 1.1 reader takes as a bool, null or number.
    static func readsAsOtherType(_ s: String) -> Bool {
        switch TemplateValue.typed(.computed(s), plain: true) {
        case .string: break
        default: return true
        }
        let lower = s.lowercased()
        if [".inf", "-.inf", "+.inf", ".nan"].contains(lower) { return true }
        // Sexagesimal numbers (`1:20`) read as numbers in YAML 1.1.
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 1 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    private static func needsQuotes(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last else { return true }
        if first == " " || last == " " || first == "\t" || last == "\t" { return true }
        if "#,[]{}&*!|>'\"%@`".contains(first) { return true }
        if "-?:".contains(first), s.count == 1 || s.dropFirst().first == " " { return true }
        if s.contains(": ") || s.contains(" #") || last == ":" || s.contains("\t") { return true }
        return s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }
}
