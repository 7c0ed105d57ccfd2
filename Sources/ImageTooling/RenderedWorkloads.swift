import Yams
import YAMLSafety

/// A pod a chart renders, as the cluster would receive it.
struct RenderedPod {
    var template: String
    /// `Deployment/release-name-web`, and which pod of the template it is.
    var workload: String
    var ordinal: Int
    var images: [String]
    var pullSecrets: [String]
    var hasPullSecretsField: Bool
    var serviceAccount: String?
    /// Where the pod's `containers:` key is written, in the template text it came from.
    var containersAt: TemplateLocation?
    /// True when only values other than the chart's own deploy it.
    var speculative: Bool

    /// Stable across renders of the same chart with other values.
    var id: String { "\(template)#\(ordinal)" }
}

/// What a chart's rendered templates deploy that matters for pulling: pods with their images
/// and pull secrets, service accounts (whose pull secrets Kubernetes gives their pods), and the
/// pull secrets themselves.
struct RenderedWorkloads {
    var pods: [RenderedPod] = []
    var serviceAccountSecrets: [String: [String]] = [:]
    /// Names of the `kubernetes.io/dockerconfigjson` Secrets the chart renders.
    var dockerConfigSecrets: [String] = []
    /// Templates whose render (with the chart's values) is not YAML, and why.
    var unreadable: [(template: String, problem: String)] = []

    init(_ rendered: [RenderedTemplate], speculative includeSpeculative: Bool = true) {
        for template in rendered {
            read(template.text, template: template.path, speculative: template.optional, reportErrors: !template.optional)
            // An untaken branch that is a whole document (an optional Deployment) is read too.
            if includeSpeculative {
                for branch in template.speculative { read(branch, template: template.path, speculative: true, reportErrors: false) }
            }
        }
    }

    /// Whether `pod` will hold `secret` when it pulls: in its own `imagePullSecrets`, or its
    /// service account's.
    func names(_ pod: RenderedPod, _ secret: String) -> Bool {
        if pod.pullSecrets.contains(secret) { return true }
        return serviceAccountSecrets[pod.serviceAccount ?? "default"]?.contains(secret) ?? false
    }

    private mutating func read(_ text: TracedText, template: String, speculative: Bool, reportErrors: Bool) {
        let source = text.string
        guard source.contains(where: { !$0.isWhitespace }) else { return }
        var documents: [Node] = []
        do {
            for part in Self.helmDocuments(source) { documents += try YAMLBudget.composeAll(part) }
        } catch {
            if reportErrors { unreadable.append((template, Self.describe(error, in: text))) }
            return
        }
        let lines = LineStarts(text)
        for doc in documents {
            guard let mapping = doc.mapping else { continue }
            let kind = mapping["kind"]?.string ?? "?"
            let name = mapping["metadata"]?.mapping?["name"]?.string ?? "?"
            if kind == "ServiceAccount" {
                serviceAccountSecrets[name, default: []] += Self.secretNames(mapping["imagePullSecrets"])
            }
            if kind == "Secret", mapping["type"]?.string == "kubernetes.io/dockerconfigjson", !dockerConfigSecrets.contains(name) {
                dockerConfigSecrets.append(name)
            }
            collectPods(doc, workload: "\(kind)/\(name)", template: template, speculative: speculative, lines: lines, text: text)
        }
    }

    private mutating func collectPods(_ node: Node, workload: String, template: String, speculative: Bool, lines: LineStarts, text: TracedText) {
        if let mapping = node.mapping {
            if let containersKey = mapping.keys.first(where: { $0.string == "containers" }), mapping["containers"]?.sequence != nil {
                var images: [String] = []
                for key in ImageFinder.containerKeys {
                    for container in mapping[key]?.sequence ?? [] {
                        if let image = container.mapping?["image"]?.string { images.append(image) }
                    }
                }
                let ordinal = pods.filter { $0.template == template }.count
                pods.append(RenderedPod(template: template, workload: workload, ordinal: ordinal, images: images,
                                        pullSecrets: Self.secretNames(mapping["imagePullSecrets"]), hasPullSecretsField: mapping["imagePullSecrets"] != nil,
                                        serviceAccount: mapping["serviceAccountName"]?.string ?? mapping["serviceAccount"]?.string,
                                        containersAt: containersKey.mark.flatMap { lines.origin(line: $0.line, column: $0.column, in: text) }, speculative: speculative))
                return
            }
            for (_, value) in mapping { collectPods(value, workload: workload, template: template, speculative: speculative, lines: lines, text: text) }
        } else if let sequence = node.sequence {
            for item in sequence { collectPods(item, workload: workload, template: template, speculative: speculative, lines: lines, text: text) }
        }
    }

    /// The render cut into documents where Helm cuts it (`releaseutil.SplitManifests`: at any
    /// `---` that starts a line), for YAML to read one by one. YAML takes `---` as a separator
    /// only when whitespace follows it, and a `{{-` after a separator often leaves none
    /// (cert-manager's `---` then `{{- if … -}}` renders `---# Permission to…`): read whole,
    /// that document and the one before it are one broken document, and the pods in it are not
    /// seen. Each piece keeps its place (blank lines before it, and spaces before a comment that
    /// shared the separator's line), so what is found in it points at the right line.
    static func helmDocuments(_ source: String) -> [String] {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.contains(where: { $0.hasPrefix("---") && $0.dropFirst(3).first.map { !$0.isWhitespace } == true }) else {
            return [source]
        }
        var parts: [String] = []
        var current: [Substring] = []
        var startLine = 0
        var lead = ""
        func finish() {
            if current.contains(where: { $0.contains { !$0.isWhitespace } }) {
                parts.append(String(repeating: "\n", count: startLine) + lead + current.joined(separator: "\n"))
            }
        }
        for (index, line) in lines.enumerated() {
            guard line.hasPrefix("---") else {
                current.append(line)
                continue
            }
            finish()
            let rest = line.dropFirst(3).drop { $0 == " " || $0 == "\t" }
            startLine = index
            // A comment keeps its column; content would not stay aligned with the lines below it.
            lead = rest.hasPrefix("#") ? String(repeating: " ", count: line.count - rest.count) : ""
            current = [rest]
        }
        finish()
        return parts
    }

    static func secretNames(_ node: Node?) -> [String] {
        (node?.sequence ?? []).compactMap { $0.mapping?["name"]?.string }
    }

    private static func describe(_ error: Error, in text: TracedText) -> String {
        guard let yaml = error as? YamlError, let line = yaml.line else { return "the render is not YAML" }
        // Point at the template text that rendered the offending line, when it is traced.
        let starts = LineStarts(text)
        if let at = starts.origin(line: line, column: 1, in: text) {
            return "the render is not YAML at \(at.file):\(at.line): \(yaml.problem)"
        }
        return "the render is not YAML (line \(line) of the output): \(yaml.problem)"
    }
}

/// Lines of rendered text, to turn a YAML parser's mark back into the template text it came from.
struct LineStarts {
    private var starts: [Int] = [0]

    init(_ text: TracedText) {
        for (i, c) in text.characters.enumerated() where c == "\n" || c == "\r\n" { starts.append(i + 1) }
    }

    func offset(line: Int, column: Int) -> Int? {
        guard line >= 1, line <= starts.count else { return nil }
        return starts[line - 1] + column - 1
    }

    /// The template or values text the character at `line`:`column` (1-based) was rendered from.
    func origin(line: Int, column: Int, in text: TracedText) -> TemplateLocation? {
        guard let offset = offset(line: line, column: column), let span = text.span(at: offset), span.origin.line > 0 else { return nil }
        let at = span.origin.position(of: span.offsetInOrigin + (offset - span.range.lowerBound))
        return TemplateLocation(file: span.origin.file, line: at.line, column: at.column)
    }
}
