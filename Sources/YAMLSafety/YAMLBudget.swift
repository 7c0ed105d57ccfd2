import Yams

/// YAML from outside (a vendor's chart, a configuration file, a license document) is bounded
/// before anything expands it. A parser shares an anchored node among its aliases, so a few
/// hundred bytes can stand for hundreds of millions of nodes (`a: &a [x, x]`, `b: &b [*a, *a]`,
/// …): whoever walks or copies the tree pays for every one. Here a document is refused when it
/// has too many aliases or when walking it would visit too many nodes, and the walk that finds
/// out stops at the budget, so the check itself costs at most the budget.
public enum YAMLBudget {
    /// More aliases than any real values file or chart uses.
    public static let maxAliases = 10_000
    /// Nodes a document may expand to (each alias counted as the whole subtree it stands for).
    public static let maxNodes = 250_000

    public struct Exceeded: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Every document of `text`, each checked against the budget.
    public static func composeAll(_ text: String) throws -> [Node] {
        try checkAliases(text)
        var documents = try Yams.compose_all(yaml: text)
        var nodes: [Node] = []
        while let node = documents.next() {
            try check(node)
            nodes.append(node)
        }
        if let error = documents.error { throw error }
        return nodes
    }

    /// The first document of `text`, checked against the budget; nil for an empty document.
    public static func compose(_ text: String, resolver: Resolver = .default) throws -> Node? {
        try checkAliases(text)
        guard let node = try Yams.compose(yaml: text, resolver) else { return nil }
        try check(node)
        return node
    }

    /// Refuses a tree that expands beyond `maxNodes`, without walking more than that.
    public static func check(_ node: Node) throws(Exceeded) {
        var visited = 0
        var stack: [Node] = [node]
        while let next = stack.popLast() {
            visited += 1
            guard visited <= maxNodes else {
                throw Exceeded(description: "the YAML expands to more than \(maxNodes) nodes (its aliases repeat what they name); refused")
            }
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    stack.append(key)
                    stack.append(value)
                }
            case .sequence(let sequence):
                stack.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
    }

    /// A quote opens a quoted scalar only where a scalar may begin (`a"b` is plain text).
    private static func opensQuote(_ previous: UInt8) -> Bool { [0x20, 0x0A, 0x3A, 0x2C, 0x5B, 0x7B, 0x2D, 0x09].contains(previous) }

    /// Counts alias tokens (`*name`) outside quotes and comments, an upper bound of the aliases.
    static func checkAliases(_ text: String) throws(Exceeded) {
        var aliases = 0
        var quote: UInt8?
        var comment = false
        var previous: UInt8 = 0x0A
        for byte in text.utf8 {
            defer { previous = byte }
            if byte == 0x0A { comment = false; if quote == 0x27 || quote == 0x22 { continue } }
            if comment { continue }
            if let q = quote {
                if byte == q, previous != 0x5C || q == 0x27 { quote = nil }
                continue
            }
            switch byte {
            case 0x22 where opensQuote(previous), 0x27 where opensQuote(previous): quote = byte
            case 0x23 where previous == 0x20 || previous == 0x0A || previous == 0x09: comment = true
            case 0x2A where [0x20, 0x0A, 0x2C, 0x5B, 0x7B, 0x09].contains(previous):
                aliases += 1
                if aliases > maxAliases {
                    throw Exceeded(description: "the YAML has more than \(maxAliases) aliases; refused")
                }
            default: break
            }
        }
    }
}
