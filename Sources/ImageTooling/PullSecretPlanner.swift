/// How a chart's pods come to name the pull secret: through the values the chart already takes
/// pull secrets from (found by rendering, not by guessing from names), and where a chart takes
/// none, the vendor documents' guarded `imagePullSecrets` block in the template.
struct PullSecretPlan {
    /// Values to change in the top chart's values file.
    var valueChanges: [(path: [String], change: ValuesChange)] = []
    /// Lines to add to templates, by file.
    var insertions: [String: [ValuesEditor.Insertion]] = [:]
    /// Pods that pull through the proxy and that neither values nor an edit can give the secret.
    var uncovered: [RenderedPod] = []
}

enum PullSecretPlanner {
    /// What Portcullis injects into a customer's chart, as far as rendering the pull secret goes.
    static func injected(_ extra: TemplateValue = .null) -> TemplateValue {
        TemplateValue.merged(.dict(["global": .dict(["replicated": .dict(["dockerconfigjson": .text("e30=", "the injected pull secret")])])]), extra)
    }

    private static let probeName = "portcullis-probe-secret"

    /// The plan that makes every pod pulling an image `pullsThroughProxy` accepts name `secret`.
    static func plan(_ renderer: ChartRenderer, files: [SourceFile], secret: String, pullsThroughProxy: (String) -> Bool) -> PullSecretPlan {
        var plan = PullSecretPlan()
        let base = RenderedWorkloads(renderer.render(overrides: injected(), speculate: false), speculative: false)
        var needy = base.pods.filter { pod in pod.images.contains(where: pullsThroughProxy) && !base.names(pod, secret) }
        guard !needy.isEmpty else { return plan }

        // Which values put pull secrets into which pods: set each candidate and render.
        var coverage: [(path: [String], item: (String) -> String, covers: Set<String>)] = []
        for path in candidates(renderer) {
            for item in [{ (name: String) in "{name: \(name)}" }, { (name: String) in name }] {
                let value: TemplateValue = item("x").hasPrefix("{") ? .dict(["name": .text(probeName)]) : .text(probeName)
                let probe = RenderedWorkloads(renderer.render(overrides: injected(setting(path, to: .list([value]))), speculate: false),
                                              speculative: false)
                let covers = Set(probe.pods.filter { probe.names($0, probeName) }.map(\.id))
                if !covers.isEmpty {
                    coverage.append((path, item, covers))
                    break
                }
            }
        }
        // The fewest values that reach every pod, the chart-wide `global` ones first.
        for candidate in coverage where needy.contains(where: { candidate.covers.contains($0.id) }) {
            plan.valueChanges.append((candidate.path, .appendToList(candidate.item(secret))))
            needy.removeAll { candidate.covers.contains($0.id) }
        }
        // The rest get the guarded block in the template that writes their `containers:`.
        let templates = Dictionary(files.filter { $0.role == .template }.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var placed = Set<String>()
        for pod in needy {
            guard !pod.hasPullSecretsField, let at = pod.containersAt, let file = templates[at.file], file.isEditable,
                  !(file.path.split(separator: "/").last ?? "").hasPrefix("_") else {
                plan.uncovered.append(pod)
                continue
            }
            guard placed.insert("\(at.file):\(at.line)").inserted else { continue }
            let indent = String(repeating: " ", count: max(0, at.column - 1))
            plan.insertions[at.file, default: []].append((at.line, [
                // `$`, not `.`: inside `range` or `with` the dot is something else.
                "\(indent){{- if hasKey (($.Values.global).replicated) \"dockerconfigjson\" }}",
                "\(indent)imagePullSecrets:",
                "\(indent)  - name: \(secret)",
                "\(indent){{- end }}",
            ]))
        }
        return plan
    }

    /// Values a chart may take pull secrets from: every key of its values (and its subcharts',
    /// under their keys) named like `imagePullSecrets` or `pullSecrets`, and the `global`
    /// `imagePullSecrets` that charts of many families read. Which of them reach which pod is
    /// what the renders tell.
    static func candidates(_ renderer: ChartRenderer) -> [[String]] {
        var found: [[String]] = [["global", "imagePullSecrets"]]
        func walk(_ value: TemplateValue, _ path: [String]) {
            guard case .map(let m) = value, path.count < 8 else { return }
            for key in m.sortedKeys {
                let lower = key.lowercased()
                if lower == "imagepullsecrets" || lower == "pullsecrets" {
                    if !found.contains(path + [key]) { found.append(path + [key]) }
                } else {
                    walk(m[key]!, path + [key])
                }
            }
        }
        func chart(_ tree: ChartTree, _ prefix: [String]) {
            walk(tree.values, prefix)
            for sub in tree.subcharts { chart(sub, prefix + [tree.valuesKey(for: sub)]) }
        }
        for tree in renderer.charts { chart(tree, []) }
        // `global` first: one value reaches every chart of the release.
        return found.enumerated().sorted { a, b in
            let ga = a.element.first == "global", gb = b.element.first == "global"
            if ga != gb { return ga }
            if a.element.count != b.element.count { return a.element.count < b.element.count }
            return a.offset < b.offset
        }.map(\.element)
    }

    static func setting(_ path: [String], to value: TemplateValue) -> TemplateValue {
        path.reversed().reduce(value) { inner, key in .dict([key: inner]) }
    }
}
