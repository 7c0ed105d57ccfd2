import OCI
import Yams

/// An `image:` field a chart's templates render, followed back to where its text comes from.
public struct ChartImage: Sendable, Equatable {
    /// The chart (or subchart) whose template renders it.
    public var chart: String
    /// The `image:` field in the template (or helper) that renders it.
    public var field: TemplateLocation
    /// The rendered value, quotes removed, each character traced to its origin.
    public var value: TracedText
    /// The image, when the value is one.
    public var reference: ImageReference?
    /// Why the tooling cannot tell what image this is, when it cannot.
    public var problem: String?
    /// True when the chart's own values do not render this field (it sits behind an `if`,
    /// `with` or `else` they do not take), so it is deployed only with other values.
    public var speculative: Bool
    /// True for the entry that stands for a template whose render stopped for want of budget:
    /// `field` is where it stopped, and what the template renders after it was not read.
    public var renderStopped = false

    /// What a message names: the `image:` field, or the unread rest of a stopped render.
    public var fieldDescription: String {
        renderStopped ? "the rest of the template after \(field)" : "the image: field at \(field)"
    }

    /// Where to point a person: the values scalar that names the repository when the image
    /// comes from values, else the template field (or, for what cannot be told, the action).
    public var location: TemplateLocation {
        if problem != nil, let why = value.unknownReason {
            return TemplateLocation(file: why.file, line: why.line, column: 1)
        }
        if let reference, let span = value.span(at: reference.repositoryOffset), case .value = span.origin.kind {
            let at = span.origin.position(of: 0)
            return TemplateLocation(file: span.origin.file, line: at.line, column: at.column)
        }
        return field
    }

    /// The values that form the image, by path (`images.myapp.apiImageRepository`).
    public var valuePaths: [String] {
        var seen: [String] = []
        for span in value.spans {
            if case .value(let path) = span.origin.kind, !seen.contains(path) { seen.append(path) }
        }
        return seen
    }
}

extension ImageReference {
    /// Where the repository starts in the reference as written.
    var repositoryOffset: Int { registry.map { $0.count + 1 } ?? 0 }
}

/// Finds every image a chart deploys by rendering its templates, as Helm would with the
/// chart's values (subcharts with their values under the subchart's key and the parent's
/// `global`), and reading the `image:` fields of the result. What makes a value an image is
/// that a template puts it into an `image:` field, whatever the value is called.
public enum ChartImageFinder {
    public static func find(in files: [SourceFile]) throws(ToolingError) -> [ChartImage] {
        let charts = try ChartTree.assemble(files)
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
        var out: [ChartImage] = []
        for chart in charts {
            render(chart, values: chart.values, parsed: parsed, defines: defines, into: &out)
        }
        // A field rendered several times with the same value (a range, a shared helper) is one image.
        var seen = Set<String>()
        return out.filter { seen.insert("\($0.field) \($0.value.string) \($0.speculative)").inserted }
            .sorted { ($0.location.file, $0.location.line, $0.field.line) < ($1.location.file, $1.location.line, $1.field.line) }
    }

    private static func render(_ chart: ChartTree, values: TemplateValue, parsed: [String: ParsedTemplate],
                               defines: [String: [TemplateNode]], into out: inout [ChartImage]) {
        let root = TemplateValue.map([
            "Values": values,
            "Chart": chart.metadata,
            "Release": .map(["Name": .string(.computed("release-name", "the release name")), "Namespace": .string(.computed("default")),
                             "Service": .string(.computed("Helm")), "IsInstall": .bool(true), "IsUpgrade": .bool(false),
                             "Revision": .int(1, nil)]),
            "Capabilities": .unknown("cluster capabilities are only known at install time"),
            "Files": .unknown("chart files are not read by the image tooling"),
        ])
        for template in chart.templates {
            let name = template.path.split(separator: "/").last.map(String.init) ?? template.path
            guard !name.hasPrefix("_"), name != "NOTES.txt", let p = parsed[template.path] else { continue }
            let engine = TemplateEngine(defines: defines)
            var context = root
            if case .map(var m) = context {
                m["Template"] = .map(["Name": .string(.computed(template.path)), "BasePath": .string(.computed(chart.root + "/templates"))])
                context = .map(m)
            }
            var scope = TemplateEngine.Scope(dot: context, root: context)
            var rendered = TracedText()
            engine.render(p.nodes, scope: &scope, into: &rendered, speculate: true)
            scan(rendered, chart: chart.root, template: template.path, speculative: false, into: &out)
            for branch in engine.speculative { scan(branch, chart: chart.root, template: template.path, speculative: true, into: &out) }
            if let stop = engine.stoppedAt {
                // What the template renders after this point was not read: say so rather than list fewer images.
                out.append(ChartImage(chart: chart.root, field: stop, value: .unknown(TemplateEngine.budgetSpent, at: stop), reference: nil,
                                      problem: TemplateEngine.budgetSpent, speculative: false, renderStopped: true))
            }
        }
        for sub in chart.subcharts {
            let key = chart.valuesKey(for: sub)
            var subValues = TemplateValue.merged(sub.values, values[key])
            let global = TemplateValue.merged(subValues["global"], values["global"])
            if case .map(var m) = subValues {
                if case .map = global { m["global"] = global }
                subValues = .map(m)
            }
            render(sub, values: subValues, parsed: parsed, defines: defines, into: &out)
        }
    }

    /// Reads the `image:` fields of rendered text, line by line.
    static func scan(_ text: TracedText, chart: String, template: String, speculative: Bool, into out: inout [ChartImage]) {
        let chars = text.characters
        var lineStart = 0
        var lines: [Range<Int>] = []
        for (i, c) in chars.enumerated() where c == "\n" || c == "\r\n" {
            lines.append(lineStart..<i)
            lineStart = i + 1
        }
        lines.append(lineStart..<chars.count)
        for (n, line) in lines.enumerated() {
            var i = line.lowerBound
            func skipSpaces() { while i < line.upperBound, chars[i] == " " || chars[i] == "\t" { i += 1 } }
            skipSpaces()
            while i < line.upperBound, chars[i] == "-", i + 1 < line.upperBound, chars[i + 1] == " " {
                i += 2
                skipSpaces()
            }
            let key = Array("image:")
            guard i + key.count <= line.upperBound, Array(chars[i..<(i + key.count)]) == key else { continue }
            let keyAt = i
            i += key.count
            guard i == line.upperBound || chars[i] == " " || chars[i] == "\t" else { continue }
            var value = text.slice(i..<line.upperBound).trimming([" ", "\t"])
            if value.isEmpty {
                // `image:` opening a nested mapping is not an image reference.
                if n + 1 < lines.count, indentation(chars, lines[n + 1]) > indentation(chars, line) { continue }
            }
            if value.count >= 2, let first = value.characters.first, first == value.characters.last, first == "\"" || first == "'" {
                value = value.slice(1..<(value.count - 1))
            }
            let field = fieldLocation(text, at: keyAt, template: template)
            var image = ChartImage(chart: chart, field: field, value: value, reference: nil, problem: nil, speculative: speculative)
            if let why = value.unknownReason {
                image.problem = why.reason
            } else if let reference = ImageReference.parse(value.string) {
                image.reference = reference
            } else {
                image.problem = value.isEmpty ? "the image is empty with the chart's values" : "`\(value.string)` is not an image reference"
            }
            // Branches the values do not take are read for the images they would deploy, not judged.
            if speculative && image.reference == nil { continue }
            out.append(image)
        }
    }

    private static func indentation(_ chars: [Character], _ line: Range<Int>) -> Int {
        var n = 0
        while line.lowerBound + n < line.upperBound, chars[line.lowerBound + n] == " " { n += 1 }
        return n
    }

    private static func fieldLocation(_ text: TracedText, at offset: Int, template: String) -> TemplateLocation {
        if let span = text.span(at: offset), span.origin.isEditable || span.origin.line > 0 {
            let at = span.origin.position(of: span.offsetInOrigin + (offset - span.range.lowerBound))
            return TemplateLocation(file: span.origin.file, line: at.line, column: at.column)
        }
        return TemplateLocation(file: template, line: 0, column: 0)
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

    var name: String { metadata["Name"].plain }

    func valuesKey(for sub: ChartTree) -> String { aliases[sub.name] ?? sub.name }

    /// The top-level charts among `files` (subcharts nested under their parents).
    static func assemble(_ files: [SourceFile]) throws(ToolingError) -> [ChartTree] {
        let roots = Set(files.compactMap(\.chart))
        var byRoot: [String: ChartTree] = [:]
        for root in roots {
            let mine = files.filter { $0.chart == root }
            var tree = ChartTree(root: root, metadata: .map([:]), values: .map([:]),
                                 templates: mine.filter { $0.role == .template }, subcharts: [], aliases: [:])
            if let chartYAML = mine.first(where: { $0.role == .chartMetadata }) {
                let doc = try composeAll(chartYAML).first.map { TemplateValue.from($0, file: chartYAML.path) } ?? .map([:])
                tree.metadata = metadata(doc)
                if case .list(let deps) = doc["dependencies"] {
                    for dep in deps where dep["alias"].truth == true { tree.aliases[dep["name"].plain] = dep["alias"].plain }
                }
            }
            if let values = mine.first(where: { $0.role == .values && $0.path.hasSuffix("/values.yaml") }) {
                tree.values = try composeAll(values).first.map { TemplateValue.from($0, file: values.path) } ?? .map([:])
                if case .null = tree.values { tree.values = .map([:]) }
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
            return tree
        }
        return roots.filter { parent(of: $0) == nil }.sorted().map(build)
    }

    /// `.Chart` as templates see it: Chart.yaml's keys with their first letter upper-cased.
    private static func metadata(_ doc: TemplateValue) -> TemplateValue {
        guard case .map(let m) = doc else { return .map([:]) }
        var out: [String: TemplateValue] = [:]
        for (k, v) in m {
            let upper = k.prefix(1).uppercased() + k.dropFirst()
            // Chart fields are not values a rewrite may change.
            if let text = v.text, case .string = v { out[upper] = .string(.computed(text.string, "Chart.yaml \(k)")) } else { out[upper] = v }
        }
        return .map(out)
    }
}
