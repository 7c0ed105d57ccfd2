import Foundation
import OCI
import Yams

/// Puts `global.replicated` into a chart's `values.yaml`.
///
/// Editing the text keeps the vendor's comments and layout: an existing `global:` block gets
/// a `replicated:` child (replacing any old one), otherwise a `global:` block is appended.
/// When the file is shaped so that text editing is unsafe (flow-style `global`, odd
/// indentation), it is merged structurally instead, and comments are lost.
public enum ValuesInjection {
    /// One injected key: a string, an integer, a boolean, or a nested mapping.
    public indirect enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int)
        case boolean(Bool)
        case map([(String, Value)])
        case list([Value])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.string(let x), .string(let y)): x == y
            case (.integer(let x), .integer(let y)): x == y
            case (.boolean(let x), .boolean(let y)): x == y
            case (.map(let x), .map(let y)): x.map(\.0) == y.map(\.0) && zip(x, y).allSatisfy { $0.1 == $1.1 }
            case (.list(let x), .list(let y)): x == y
            default: false
            }
        }

        var foundation: Any {
            switch self {
            case .string(let s): s
            case .integer(let i): i
            case .boolean(let b): b
            case .map(let pairs): Dictionary(pairs.map { ($0.0, $0.1.foundation) }, uniquingKeysWith: { $1 })
            case .list(let items): items.map(\.foundation)
            }
        }

        /// As JSON, which is also a YAML flow node: keys in the order given.
        public var json: String {
            switch self {
            case .string(let s): JSONString.quote(s)
            case .integer(let i): String(i)
            case .boolean(let b): b ? "true" : "false"
            case .map(let pairs): "{" + pairs.map { JSONString.quote($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
            case .list(let items): "[" + items.map(\.json).joined(separator: ",") + "]"
            }
        }

        /// The YAML scalar, for scalars.
        var scalar: String? {
            switch self {
            case .string(let s): JSONString.quote(s)
            case .integer(let i): String(i)
            case .boolean(let b): b ? "true" : "false"
            case .list: json
            case .map: nil
            }
        }
    }

    public static func inject(into values: String?, replicated: [(String, Value)]) throws(ChartError) -> String {
        let original = values ?? ""
        if let edited = textual(original, replicated), verify(edited, replicated) { return edited }
        return try structural(original, replicated)
    }

    static func render(_ pairs: [(String, Value)], indent: Int) -> [String] {
        var lines: [String] = []
        let pad = String(repeating: " ", count: indent)
        for (key, value) in pairs {
            switch value {
            case .string, .integer, .boolean, .list: lines.append("\(pad)\(key): \(value.scalar ?? "")")
            case .map(let inner) where inner.isEmpty:
                lines.append("\(pad)\(key): {}")
            case .map(let inner):
                lines.append("\(pad)\(key):")
                lines += render(inner, indent: indent + 2)
            }
        }
        return lines
    }

    /// JSON string syntax is a valid YAML double-quoted scalar.
    static func quote(_ s: String) -> String { JSONString.quote(s) }

    static func indentation(_ line: Substring) -> Int { line.prefix { $0 == " " }.count }

    static func isContent(_ line: Substring) -> Bool {
        let t = line.drop { $0 == " " }
        return !t.isEmpty && !t.hasPrefix("#")
    }

    static func textual(_ text: String, _ replicated: [(String, Value)]) -> String? {
        // A CRLF file is edited as LF and written back with CRLF (a lone CR is left to the parser).
        if text.contains("\r") {
            let unix = text.replacingOccurrences(of: "\r\n", with: "\n")
            guard !unix.contains("\r"), let edited = textual(unix, replicated) else { return nil }
            return edited.replacingOccurrences(of: "\n", with: "\r\n")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(Substring.init)
        if lines.last == "" { lines.removeLast() }
        // Tabs in indentation are not YAML; the parser says so.
        guard !lines.contains(where: { $0.prefix { $0 == " " || $0 == "\t" }.contains("\t") }) else { return nil }
        // Multi-document values files are not something Helm reads; leave them to the parser.
        if lines.dropFirst().contains(where: { $0.hasPrefix("---") }) { return nil }
        guard let globalIndex = lines.firstIndex(where: { globalKey($0) != nil }), let key = globalKey(lines[globalIndex]) else {
            let block = ["global:"] + render([("replicated", .map(replicated))], indent: 2)
            return (lines + [""] + block.map { Substring($0) }).joined(separator: "\n") + "\n"
        }
        // `global:` with nothing after it, or an empty placeholder (`{}`, `~`, `null`): the
        // block goes under it; the comment on its line stays. Anything else on the line (a
        // flow mapping with content) is left to the structural merge.
        let (value, comment) = splitComment(lines[globalIndex].dropFirst(key.count).drop { $0 == " " })
        guard ["", "{}", "~", "null", "Null", "NULL"].contains(value.trimmingCharacters(in: .whitespaces)) else { return nil }
        if !value.isEmpty { lines[globalIndex] = Substring(key + (comment.isEmpty ? "" : " " + comment)) }
        // The block runs until the next line at indentation 0.
        var end = globalIndex + 1
        while end < lines.count, !isContent(lines[end]) || indentation(lines[end]) > 0 { end += 1 }
        while end > globalIndex + 1, !isContent(lines[end - 1]) { end -= 1 }
        let children = (globalIndex + 1..<end).filter { isContent(lines[$0]) }
        let childIndent = children.first.map { indentation(lines[$0]) } ?? 2
        guard childIndent > 0, children.allSatisfy({ indentation(lines[$0]) >= childIndent }) else { return nil }
        var body = Array(lines[(globalIndex + 1)..<end])
        if let start = body.firstIndex(where: { indentation($0) == childIndent && $0.dropFirst(childIndent).hasPrefix("replicated:") }) {
            var stop = start + 1
            while stop < body.count, !isContent(body[stop]) || indentation(body[stop]) > childIndent { stop += 1 }
            body.removeSubrange(start..<stop)
        }
        let block = render([("replicated", .map(replicated))], indent: childIndent).map { Substring($0) }
        let result = Array(lines[...globalIndex]) + block + body + Array(lines[end...])
        return result.joined(separator: "\n") + "\n"
    }

    /// The key as written (`global:`, `"global":` or `'global':`) when `line` starts the
    /// top-level `global` entry.
    static func globalKey(_ line: Substring) -> String? {
        for key in ["global:", "\"global\":", "'global':"] where line.hasPrefix(key) {
            let after = line.dropFirst(key.count)
            if after.isEmpty || after.first == " " { return key }
        }
        return nil
    }

    /// A line's value and its trailing comment (`# …`), for values that hold no quotes.
    static func splitComment(_ rest: Substring) -> (value: Substring, comment: Substring) {
        if rest.hasPrefix("#") { return ("", rest) }
        guard let hash = rest.range(of: " #") else { return (rest, "") }
        return (rest[..<hash.lowerBound], rest[rest.index(after: hash.lowerBound)...])
    }

    static func verify(_ text: String, _ replicated: [(String, Value)]) -> Bool {
        guard let root = (try? SafeYAML.load(text)) as? [String: Any],
              let global = root["global"] as? [String: Any],
              let injected = global["replicated"] as? [String: Any] else { return false }
        return replicated.allSatisfy { key, value in
            switch value {
            case .string(let s): injected[key] as? String == s
            case .integer(let i): injected[key] as? Int == i
            case .boolean(let b): injected[key] as? Bool == b
            case .map: injected[key] is [String: Any]
            case .list(let items): (injected[key] as? [Any])?.count == items.count
            }
        }
    }

    /// Puts `pairs` under the top-level `key` of a chart's values (a subchart's values, as a
    /// parent gives them). A new block is appended as text; when the key is already there the
    /// values are merged structurally (ours win, the rest kept; comments are lost then).
    public static func inject(into values: String?, topLevel key: String, _ pairs: [(String, Value)]) throws(ChartError) -> String {
        let original = values ?? ""
        var root: [String: Any] = [:]
        if !original.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let loaded: Any?
            do { loaded = try SafeYAML.load(original) } catch { throw ChartError("values.yaml: \(error)") }
            if let loaded {
                guard let mapping = loaded as? [String: Any] else { throw ChartError("values.yaml is not a mapping") }
                root = mapping
            }
        }
        if root[key] == nil, !original.contains("\t"), !original.contains("\r") {
            var text = original
            if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
            let block = [JSONString.quote(key) + ":"] + render(pairs, indent: 2)
            text += (text.isEmpty ? "" : "\n") + block.joined(separator: "\n") + "\n"
            if let reread = (try? SafeYAML.load(text)) as? [String: Any], let section = reread[key] as? [String: Any],
               pairs.allSatisfy({ section[$0.0] != nil }) {
                return text
            }
        }
        var section = root[key] as? [String: Any] ?? [:]
        for (name, value) in pairs { section[name] = value.foundation }
        root[key] = section
        do {
            return try Yams.dump(object: jsonCompatible(root), sortKeys: true)
        } catch {
            throw ChartError("could not write values.yaml")
        }
    }

    static func structural(_ text: String, _ replicated: [(String, Value)]) throws(ChartError) -> String {
        var root: [String: Any] = [:]
        if !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let loaded: Any?
            do { loaded = try SafeYAML.load(text) } catch { throw ChartError("values.yaml: \(error)") }
            if let loaded {
                guard let mapping = loaded as? [String: Any] else { throw ChartError("values.yaml is not a mapping") }
                root = mapping
            }
        }
        var global = root["global"] as? [String: Any] ?? [:]
        global["replicated"] = Value.map(replicated).foundation
        root["global"] = global
        do {
            return try Yams.dump(object: jsonCompatible(root), sortKeys: true)
        } catch {
            throw ChartError("could not write values.yaml")
        }
    }
}
