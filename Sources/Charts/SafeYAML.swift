import Yams
import YAMLSafety

/// YAML from vendors' charts turned into Foundation values without the constructor's traps:
/// Yams force-unwraps a mapping key that is not a string and stops on an unresolved alias,
/// so such documents are refused here first (found by fuzzing `values-injection`).
enum SafeYAML {
    /// The tags a chart's YAML may use (what Helm's own parser reads as plain data).
    static let allowedTags: Set<Tag.Name> = [.str, .int, .float, .bool, .null, .map, .seq, .merge, .value, .timestamp]

    /// Scalars resolved as Helm's YAML library (go-yaml v2, through sigs.k8s.io/yaml) reads
    /// them into chart values: no timestamps (`2024-01-02` stays the string it is to a template)
    /// and no base-60 numbers (`1:20` is a string, not 80). With YAML 1.1's resolver, a values
    /// file written back after a merge changed what the chart saw.
    static let helmResolver = Resolver.default.removing(.timestamp).replacing(helmInt).replacing(helmFloat)

    static let helmInt = try! Resolver.Rule(.int, """
        ^(?:[-+]?0b[0-1_]+\
        |[-+]?0o?[0-7_]+\
        |[-+]?(?:0|[1-9][0-9_]*)\
        |[-+]?0x[0-9a-fA-F_]+)$
        """)

    static let helmFloat = try! Resolver.Rule(.float, """
        ^(?:[-+]?(?:[0-9][0-9_]*)(?:\\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?\
        |\\.[0-9_]+(?:[eE][-+][0-9]+)?\
        |[-+]?\\.(?:inf|Inf|INF)\
        |\\.(?:nan|NaN|NAN))$
        """)

    static func load(_ text: String) throws(ChartError) -> Any? {
        let node: Node?
        do { node = try YAMLBudget.compose(text, resolver: helmResolver) } catch let error as YAMLBudget.Exceeded {
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
