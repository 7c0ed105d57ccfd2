import Foundation
import Yams

/// One template of a chart, rendered: what the values render, traced, and what the branches
/// they do not take would render.
struct RenderedTemplate {
    /// The chart (or subchart) root the template belongs to.
    var chart: String
    var path: String
    var text: TracedText
    var speculative: [TracedText]
    /// Where the render stopped for want of budget, if it did.
    var stoppedAt: TemplateLocation?
    /// True when nothing of this template is deployed with the chart's values (its subchart's
    /// `condition` is off): it is read like a branch the values do not take.
    var optional: Bool
}

/// Renders a chart's templates as Helm does (`helm template`), with values given on top of
/// the chart's own (`--set`, the values Portcullis injects), keeping every character's origin.
struct ChartRenderer {
    let charts: [ChartTree]
    let parsed: [String: ParsedTemplate]
    let defines: [String: [TemplateNode]]

    init(_ files: [SourceFile]) throws(ToolingError) {
        charts = try ChartTree.assemble(files)
        var defines: [String: [TemplateNode]] = [:]
        var parsed: [String: ParsedTemplate] = [:]
        for file in files where file.role == .template {
            do {
                let p = try TemplateParser.parse(file.text, file: file.path)
                parsed[file.path] = p
                defines.merge(p.defines) { first, _ in first }
            } catch {
                throw ToolingError(file: file.path, line: error.location.line, message: "template syntax: \(error.message)")
            }
        }
        self.parsed = parsed
        self.defines = defines
    }

    /// Every template of every chart, with `overrides` over the top charts' values. Each render
    /// starts from fresh copies of the values, since templates may change them (`set`).
    /// With `only`, just those templates are rendered (a probe that needs one).
    func render(overrides: TemplateValue = .null, speculate: Bool = true, only: Set<String>? = nil) -> [RenderedTemplate] {
        var out: [RenderedTemplate] = []
        for chart in charts {
            render(chart, values: TemplateValue.merged(chart.values, overrides).deepCopy(), optional: false, speculate: speculate, only: only, into: &out)
        }
        return out
    }

    private func render(_ chart: ChartTree, values: TemplateValue, optional: Bool, speculate: Bool, only: Set<String>?, into out: inout [RenderedTemplate]) {
        // A library chart only defines helpers for others.
        if chart.metadata["Type"].plain != "library" {
            for template in chart.templates {
                let name = template.path.split(separator: "/").last.map(String.init) ?? template.path
                guard !name.hasPrefix("_"), name != "NOTES.txt", only?.contains(template.path) ?? true, let p = parsed[template.path] else { continue }
                let engine = TemplateEngine(defines: defines)
                let context = ChartContext.root(values: values, chart: chart.metadata, files: chart.files, template: template.path,
                                                basePath: chart.root + "/templates")
                var scope = TemplateEngine.Scope(dot: context, root: context)
                var rendered = TracedText()
                engine.render(p.nodes, scope: &scope, into: &rendered, speculate: speculate)
                out.append(RenderedTemplate(chart: chart.root, path: template.path, text: rendered, speculative: engine.speculative,
                                            stoppedAt: engine.stoppedAt, optional: optional))
            }
        }
        for sub in chart.subcharts {
            let key = chart.valuesKey(for: sub)
            var subValues = TemplateValue.merged(sub.values, values[key])
            let global = TemplateValue.merged(subValues["global"], values["global"])
            if case .map(let m) = subValues, case .map = global {
                m["global"] = global
                subValues = .map(m)
            }
            let enabled = chart.isEnabled(sub, values: values)
            render(sub, values: subValues, optional: optional || !enabled, speculate: speculate, only: only, into: &out)
        }
    }
}

/// A chart and its subcharts as files, with their default values traced to those files.
struct ChartTree {
    var root: String
    var metadata: TemplateValue
    var values: TemplateValue
    var templates: [SourceFile]
    var subcharts: [ChartTree]
    /// Subchart name → the key its values sit under in this chart (an alias, or the name).
    var aliases: [String: String]
    /// Subchart name → the values paths of its `condition` (the first that is set decides).
    var conditions: [String: [String]]
    /// What `.Files` holds: the chart's other files by their path in the chart.
    var files: [String: String] = [:]

    var name: String { metadata["Name"].plain }

    func valuesKey(for sub: ChartTree) -> String { aliases[sub.name] ?? sub.name }

    /// Whether `values` deploy the subchart: its `condition`, as Helm reads it (the first path
    /// that holds a bool decides; none does, it is deployed).
    func isEnabled(_ sub: ChartTree, values: TemplateValue) -> Bool {
        for path in conditions[sub.name] ?? [] {
            if case .bool(let on) = values.path(path.split(separator: ".").map(String.init)) { return on }
        }
        return true
    }

    /// The top-level charts among `files` (subcharts nested under their parents).
    static func assemble(_ files: [SourceFile]) throws(ToolingError) -> [ChartTree] {
        let roots = Set(files.compactMap(\.chart))
        var byRoot: [String: ChartTree] = [:]
        for root in roots {
            let mine = files.filter { $0.chart == root }
            var tree = ChartTree(root: root, metadata: .dict([:]), values: .dict([:]),
                                 templates: mine.filter { $0.role == .template }, subcharts: [], aliases: [:], conditions: [:])
            for file in mine where file.role == .chartFile && file.path.hasPrefix(root + "/") {
                tree.files[String(file.path.dropFirst(root.count + 1))] = file.text
            }
            if let chartYAML = mine.first(where: { $0.role == .chartMetadata }) {
                // Helm reads Chart.yaml into string fields: `appVersion: 1.10` is the text 1.10.
                let doc = try composeAll(chartYAML).first.map { TemplateValue.from($0, file: chartYAML.path, typed: false) } ?? .dict([:])
                tree.metadata = metadata(doc)
                if case .list(let deps) = doc["dependencies"] {
                    for dep in deps {
                        let name = dep["name"].plain
                        if dep["alias"].truth == true { tree.aliases[name] = dep["alias"].plain }
                        if dep["condition"].truth == true {
                            tree.conditions[dep["alias"].truth == true ? dep["alias"].plain : name] =
                                dep["condition"].plain.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                        }
                    }
                }
            }
            if let values = mine.first(where: { $0.role == .values && $0.path.hasSuffix("/values.yaml") }) {
                tree.values = try composeAll(values).first.map { TemplateValue.from($0, file: values.path) } ?? .dict([:])
                if case .null = tree.values { tree.values = .dict([:]) }
            }
            byRoot[root] = tree
        }
        // A subchart's root is its parent's root followed by `/charts/…`.
        func parent(of root: String) -> String? {
            roots.filter { root.hasPrefix($0 + "/charts/") }.max { $0.count < $1.count }
        }
        func build(_ root: String) -> ChartTree {
            var tree = byRoot[root]!
            tree.subcharts = roots.filter { parent(of: $0) == root }.sorted().map(build)
            // Conditions name the subchart by its alias when it has one.
            for sub in tree.subcharts where tree.aliases[sub.name] != nil {
                if let condition = tree.conditions[tree.aliases[sub.name]!] { tree.conditions[sub.name] = condition }
            }
            return tree
        }
        return roots.filter { parent(of: $0) == nil }.sorted().map(build)
    }

    /// `.Chart` as templates see it: Chart.yaml's keys with their first letter upper-cased.
    private static func metadata(_ doc: TemplateValue) -> TemplateValue {
        guard case .map(let m) = doc else { return .dict([:]) }
        var out: [String: TemplateValue] = [:]
        for (k, v) in m.entries {
            let upper = k.prefix(1).uppercased() + k.dropFirst()
            // Chart fields are not values a rewrite may change.
            if let text = v.text, case .string = v { out[upper] = .string(.computed(text.string, "Chart.yaml \(k)")) } else { out[upper] = v }
        }
        return .dict(out)
    }
}
