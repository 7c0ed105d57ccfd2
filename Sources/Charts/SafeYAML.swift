import Yams
import YAMLSafety

/// YAML from vendors' charts turned into Foundation values without the constructor's traps:
/// Yams force-unwraps a mapping key that is not a string and stops on an unresolved alias,
/// so such documents are refused here first (found by fuzzing `values-injection`).
enum SafeYAML {
    /// The tags a chart's YAML may use (what Helm's own parser reads as plain data).
    static let allowedTags: Set<Tag.Name> = [.str, .int, .float, .bool, .null, .map, .seq, .merge, .value, .timestamp]

    static func load(_ text: String) throws(ChartError) -> Any? {
        let node: Node?
        do { node = try YAMLBudget.compose(text) } catch let error as YAMLBudget.Exceeded {
            throw ChartError(error.description)
        } catch { throw ChartError("not valid YAML") }
        guard let node else { return nil }
        try check(node, depth: 0)
        return Constructor.default.any(from: node)
    }

    private static func check(_ node: Node, depth: Int) throws(ChartError) {
        guard depth < 512 else { throw ChartError("YAML nested too deeply") }
        let tag = Tag.Name(rawValue: node.tag.rawValue)
        guard allowedTags.contains(tag) else { throw ChartError("YAML tag \(tag.rawValue) is not allowed in a chart") }
        switch node {
        case .scalar:
            return
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar = key else { throw ChartError("YAML mapping keys must be plain strings") }
                try check(key, depth: depth + 1)
                try check(value, depth: depth + 1)
            }
        case .sequence(let sequence):
            for item in sequence { try check(item, depth: depth + 1) }
        case .alias:
            throw ChartError("unresolved YAML alias")
        }
    }
}
