import Yams

/// A change to one value of a values file.
enum ValuesChange: Equatable {
    /// Add an item (written in flow style: `{name: x}`) to the list at the path, making the list
    /// (and the mappings above it) if they are not there.
    case appendToList(String)
    /// Set the scalar at the path (written as YAML: `true`).
    case set(String)
}

/// Changes values files as text at the places the parser reports, so comments, order and
/// layout around the changed value stay as they were.
enum ValuesEditor {
    typealias Insertion = (line: Int, text: [String])

    static func edits(_ change: ValuesChange, at path: [String], in file: SourceFile) throws(ToolingError) -> (edits: [ImageRewriter.Edit], insertions: [Insertion]) {
        func fail(_ why: String, line: Int? = nil) -> ToolingError {
            ToolingError(file: file.path, line: line, message: "cannot set \(path.joined(separator: ".")): \(why); edit it by hand")
        }
        let root = try composeAll(file).first
        var node = root
        var keyNode: Node?
        var depth = 0
        while depth < path.count, let mapping = node?.mapping,
              let entry = mapping.first(where: { TracedYAML.key($0.key) == path[depth] }) {
            keyNode = entry.key
            node = entry.value
            depth += 1
        }
        let lineCount = file.text.split(separator: "\n", omittingEmptySubsequences: false).count
        if depth == path.count, let node {
            return try existing(change, node: node, key: keyNode, flow: startsFlow(node, in: file.text), fail: fail)
        }
        // What is missing from `depth` on is added, as block mappings under the last key found.
        let remaining = Array(path[depth...])
        let value: String = switch change {
        case .appendToList(let item): "[\(item)]"
        case .set(let text): text
        }
        func block(indent: Int) -> [String] {
            remaining.enumerated().map { j, name in
                String(repeating: " ", count: indent + 2 * j) + name + ":" + (j == remaining.count - 1 ? " " + value : "")
            }
        }
        guard let keyNode, let keyMark = keyNode.mark, let node else {
            // Nothing of the path exists: the new keys go at the end of the file.
            let indent = root?.mapping?.keys.first?.mark.map { $0.column - 1 } ?? 0
            let endsWithNewline = file.text.hasSuffix("\n")
            return ([], [(endsWithNewline ? lineCount : lineCount + 1, block(indent: indent))])
        }
        switch node {
        case .mapping(let mapping) where !mapping.isEmpty && !startsFlow(node, in: file.text):
            let indent = mapping.keys.first?.mark.map { $0.column - 1 } ?? keyMark.column + 1
            return ([], [(keyMark.line + 1, block(indent: indent))])
        case .mapping(let mapping) where mapping.isEmpty:
            guard let at = node.mark else { throw fail("the mapping has no position", line: keyMark.line) }
            let flow = remaining.reversed().reduce(value) { inner, name in "{\(name): \(inner)}" }
            return ([ImageRewriter.Edit(line: at.line, column: at.column, old: "{}", new: flow, exact: true)], [])
        case .scalar(let scalar) where isNull(scalar):
            if scalar.string.isEmpty, scalar.style == .plain {
                return ([], [(keyMark.line + 1, block(indent: keyMark.column + 1))])
            }
            guard let at = scalar.mark else { throw fail("the value has no position", line: keyMark.line) }
            let flow = remaining.reversed().reduce(value) { inner, name in "{\(name): \(inner)}" }
            return ([ImageRewriter.Edit(line: at.line, column: at.column, old: scalar.string, new: flow)], [])
        default:
            throw fail("\(path[..<depth].joined(separator: ".")) is not a mapping", line: keyMark.line)
        }
    }

    private static func existing(_ change: ValuesChange, node: Node, key: Node?, flow: Bool,
                                 fail: (String, Int?) -> ToolingError) throws(ToolingError) -> (edits: [ImageRewriter.Edit], insertions: [Insertion]) {
        let keyLine = key?.mark?.line
        switch (change, node) {
        case (.appendToList(let item), .sequence(let sequence)):
            guard let at = node.mark else { throw fail("the list has no position", keyLine) }
            if flow {
                let text = sequence.isEmpty ? item : item + ", "
                return ([ImageRewriter.Edit(line: at.line, column: at.column + 1, old: "", new: text, exact: true)], [])
            }
            let pad = String(repeating: " ", count: at.column - 1)
            return ([], [(at.line, [pad + "- " + blockItem(item)])])
        case (.appendToList(let item), .scalar(let scalar)) where isNull(scalar):
            return try replaceNull(scalar, key: key, with: "[\(item)]", fail: fail)
        case (.set(let text), .scalar(let scalar)):
            if isNull(scalar) { return try replaceNull(scalar, key: key, with: text, fail: fail) }
            guard let at = scalar.mark, !scalar.string.contains("\n") else { throw fail("the value spans several lines", keyLine) }
            return ([ImageRewriter.Edit(line: at.line, column: at.column, old: scalar.string, new: text)], [])
        case (.appendToList, _):
            throw fail("it is not a list", keyLine)
        case (.set, _):
            throw fail("it is not a single value", keyLine)
        }
    }

    /// `key:` with nothing after it gets the value after the colon; `key: ~` has the `~` replaced.
    private static func replaceNull(_ scalar: Node.Scalar, key: Node?, with text: String, fail: (String, Int?) -> ToolingError) throws(ToolingError) -> (edits: [ImageRewriter.Edit], insertions: [Insertion]) {
        if scalar.string.isEmpty, scalar.style == .plain {
            guard let key, let at = key.mark, let name = key.string else { throw fail("the key has no position", nil) }
            // Right after the colon, before any comment on that line.
            return ([ImageRewriter.Edit(line: at.line, column: at.column + name.count, old: ":", new: ": " + text, exact: true)], [])
        }
        guard let at = scalar.mark else { throw fail("the value has no position", key?.mark?.line) }
        return ([ImageRewriter.Edit(line: at.line, column: at.column, old: scalar.string, new: text)], [])
    }

    /// Whether a collection is written in flow style (`[…]`, `{…}`): read off the text, since the
    /// parser's own style of a sequence is not reliable (Yams reads it from the closing event).
    static func startsFlow(_ node: Node, in text: String) -> Bool {
        guard let mark = node.mark else { return false }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return false }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        guard mark.column >= 1, mark.column <= scalars.count else { return false }
        return scalars[mark.column - 1] == "[" || scalars[mark.column - 1] == "{"
    }

    private static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// `{name: x}` as a block sequence item's text (`name: x`); anything else as it is.
    private static func blockItem(_ flow: String) -> String {
        guard flow.hasPrefix("{"), flow.hasSuffix("}") else { return flow }
        return String(flow.dropFirst().dropLast())
    }
}
