import OCI

/// Where rewritten images should point.
public struct ProxyTarget: Sendable {
    public var host: String
    public var app: String
    /// Registry host → registry name, for hosts that cannot go in a path (they have a port)
    /// or that the vendor registered under a name.
    public var upstreamNames: [String: String]
    /// An air-gapped customer's registry (`host[:port][/prefix]`) that `bundle push` filled:
    /// images then point there, named as `ImageReference.airGapRepository` names them.
    public var mirror: String?

    public init(host: String, app: String, upstreamNames: [String: String] = [:]) {
        self.host = host
        self.app = app
        self.upstreamNames = upstreamNames
    }

    /// Images go to `registry` (`host[:port][/prefix]`), where `bundle push` put them.
    public static func mirror(_ registry: String) -> ProxyTarget {
        var target = ProxyTarget(host: String(registry.split(separator: "/", maxSplits: 1).first ?? ""), app: "")
        target.mirror = registry
        return target
    }

    public func isOnProxy(_ reference: ImageReference) -> Bool {
        reference.registry?.lowercased() == host.lowercased()
    }

    public func proxied(_ reference: ImageReference) throws(ToolingError) -> ImageReference {
        if let mirror { return reference.inRegistry(mirror) }
        let registry = reference.canonicalRegistry
        if let name = upstreamNames[registry] ?? upstreamNames[reference.registry ?? ""] {
            return reference.proxied(host: host, app: app, upstream: name)
        }
        guard !registry.contains(":") else {
            throw ToolingError(file: "", line: nil, message: "registry \(registry) has a port, which clients reject in a path: name it with --upstream \(registry)=<registry name>")
        }
        return reference.proxied(host: host, app: app)
    }
}

/// One change made to a file.
public struct ImageChange: Equatable, Sendable {
    public var file: String
    public var line: Int
    public var from: String
    public var to: String
}

/// Edits YAML as text at the positions the parser reported, so comments, quoting and layout
/// outside the changed values stay exactly as they were.
public enum ImageRewriter {
    public static let defaultPullSecret = "replicated-pull-secret"

    struct Edit {
        var line: Int
        var column: Int
        var old: String
        var new: String
        /// Made at `column` exactly rather than at the first `old` from there.
        var exact = false
    }

    /// What a rewrite did: the new texts of changed files, the changes, the images it could not
    /// tell and so left alone (each with where and why), and what else to know (values it set
    /// and why, pods it could not give the pull secret).
    public struct Result: Sendable {
        public var files: [SourceFile]
        public var changes: [ImageChange]
        public var unresolved: [ChartImage]
        public var notes: [String]
    }

    /// Rewrites every file; returns new texts (changed files only) and the changes. Charts are
    /// followed through their templates: the values (or template text) an image is made of
    /// are rewritten, whatever they are called, and the pods that pull through the proxy get
    /// the pull secret the way the chart takes pull secrets.
    public static func rewrite(_ files: [SourceFile], target: ProxyTarget, include: (ImageReference) -> Bool = { _ in true },
                               pullSecret: String? = defaultPullSecret) throws(ToolingError) -> Result {
        var changed: [SourceFile] = []
        var changes: [ImageChange] = []
        var notes: [String] = []
        let renderer = files.contains { $0.chart != nil } ? try ChartRenderer(files) : nil
        let chartImages = renderer.map { ChartImageFinder.find(in: $0.render()) } ?? []
        var chartEdits: [String: [Edit]] = [:]
        var chartInsertions: [String: [ValuesEditor.Insertion]] = [:]
        var byPlace: [String: FileEdit] = [:]
        var proxiedByChart = Set<String>()
        // The top chart's values file takes what the rewrite sets (made if the chart has none).
        var addedFiles: [SourceFile] = []
        let top = renderer?.charts.first
        let valuesPath = (top?.root ?? "") + "/values.yaml"
        var valuesFile = files.first { $0.path == valuesPath }
        if top != nil, valuesFile == nil {
            valuesFile = SourceFile(path: valuesPath, text: "", role: .values, chart: top?.root)
            addedFiles.append(valuesFile!)
        }
        var valuesSet: [String: String] = [:]
        func change(_ path: [String], _ value: ValuesChange) throws(ToolingError) {
            guard let file = valuesFile else { return }
            if case .set(let text) = value {
                let key = path.joined(separator: ".")
                if let earlier = valuesSet[key] {
                    guard earlier == text else {
                        throw ToolingError(file: file.path, line: nil, message: "\(key) would need to be both \(earlier) and \(text); set it by hand")
                    }
                    return
                }
                valuesSet[key] = text
            }
            let made = try ValuesEditor.edits(value, at: path, in: file)
            chartEdits[file.path, default: []] += made.edits
            chartInsertions[file.path, default: []] += made.insertions
        }
        var probeCandidates: [[String]]?
        // Images the values render first: an optional copy of the same image is then rewritten by the same values.
        for image in chartImages.filter({ !$0.speculative }) + chartImages.filter(\.speculative) {
            guard let reference = image.reference, !target.isOnProxy(reference), include(reference) else { continue }
            let proxied: ImageReference
            do { proxied = try target.proxied(reference) } catch {
                throw ToolingError(file: image.location.file, line: image.location.line, message: error.message)
            }
            var imageEdits = try? edits(for: image, to: proxied, allowTemplateText: false)
            if imageEdits == nil, let renderer {
                // Empty values a template fills in are set rather than the template edited.
                if probeCandidates == nil { probeCandidates = ImageValueProbe.candidates(renderer) }
                if let assignments = ImageValueProbe.assignments(for: image, to: proxied, renderer: renderer, candidates: probeCandidates!) {
                    for (path, value) in assignments { try change(path, .set(value)) }
                    imageEdits = []
                }
            }
            if imageEdits == nil { imageEdits = try edits(for: image, to: proxied, allowTemplateText: true) }
            for edit in imageEdits ?? [] {
                let place = "\(edit.file):\(edit.line):\(edit.column):\(edit.exact)"
                if let other = byPlace[place] {
                    guard other == edit else {
                        throw ToolingError(file: edit.file, line: edit.line,
                                           message: "this value is used by images that need different rewrites; split it and rewrite again")
                    }
                    continue
                }
                byPlace[place] = edit
                chartEdits[edit.file, default: []].append(Edit(line: edit.line, column: edit.column, old: edit.old, new: edit.new, exact: edit.exact))
            }
            proxiedByChart.insert(reference.description)
            let change = ImageChange(file: image.location.file, line: image.location.line, from: reference.description, to: proxied.description)
            if !changes.contains(change) { changes.append(change) }
        }
        if let renderer {
            if let pullSecret {
                let secret = existingPullSecret(renderer, preferring: pullSecret) ?? pullSecret
                let plan = PullSecretPlanner.plan(renderer, files: files, secret: secret) { image in
                    guard let reference = ImageReference.parse(image) else { return false }
                    return proxiedByChart.contains(reference.description) || target.isOnProxy(reference)
                }
                for (path, value) in plan.valueChanges {
                    try change(path, value)
                    notes.append("\(valuesPath): \(path.joined(separator: ".")) now names the pull secret \(secret): the chart's pods take their pull secrets from it")
                }
                for (file, lines) in plan.insertions { chartInsertions[file, default: []] += lines }
                for pod in plan.uncovered {
                    notes.append("warning: \(pod.workload) (\(pod.containersAt.map { "\($0.file):\($0.line)" } ?? pod.template)) pulls through the proxy but cannot be given the pull secret \(secret) by values or an edit: add it by hand, or install with `portcullis images post-render`")
                }
            }
            // Bitnami's charts refuse images other than their own unless told the change is intended.
            if !proxiedByChart.isEmpty, files.contains(where: { $0.role == .template && $0.text.contains("allowInsecureImages") }) {
                try change(["global", "security", "allowInsecureImages"], .set("true"))
                notes.append("\(valuesPath): global.security.allowInsecureImages set to true: this chart refuses images from other registries unless it is, and its images now come through the proxy (the same images, by the same tags and digests)")
            }
        }
        var hasSecretTemplate = files.contains { $0.role == .template && $0.text.contains("kubernetes.io/dockerconfigjson") }
        for file in files + addedFiles {
            var edits: [Edit] = chartEdits[file.path] ?? []
            var insertions: [(line: Int, text: [String])] = chartInsertions[file.path] ?? []
            for occurrence in try ImageFinder.find(in: file) where !target.isOnProxy(occurrence.reference) && include(occurrence.reference) {
                let proxied: ImageReference
                do { proxied = try target.proxied(occurrence.reference) } catch {
                    throw ToolingError(file: file.path, line: occurrence.line, message: error.message)
                }
                edits += Self.edits(for: occurrence, to: proxied)
                let change = ImageChange(file: file.path, line: occurrence.line, from: occurrence.reference.description, to: proxied.description)
                if !changes.contains(change) { changes.append(change) }
            }
            if let pullSecret, file.role == .manifests {
                let made = try manifestPullSecretChanges(file, secret: pullSecret)
                edits += made.edits
                insertions += made.insertions
            }
            guard !edits.isEmpty || !insertions.isEmpty else { continue }
            guard file.isEditable else {
                throw ToolingError(file: file.path, line: edits.first?.line, message: "cannot rewrite inside a packaged chart; unpack it first")
            }
            var updated = file
            updated.text = try apply(edits, insertions: insertions, to: file)
            changed.append(updated)
        }
        if pullSecret != nil, !hasSecretTemplate, let chartRoot = chartTemplateDirectory(files) {
            changed.append(SourceFile(path: chartRoot + "/imagepullsecret.yaml", text: pullSecretTemplate(name: pullSecret!), role: .template,
                                      chart: files.first { $0.role == .template }?.chart))
            hasSecretTemplate = true
        }
        return Result(files: changed, changes: changes, unresolved: chartImages.filter { $0.reference == nil }, notes: notes)
    }

    /// The pull secret the chart already renders from the injected values, if it has one.
    static func existingPullSecret(_ renderer: ChartRenderer, preferring name: String) -> String? {
        let secrets = RenderedWorkloads(renderer.render(overrides: PullSecretPlanner.injected(), speculate: false), speculative: false).dockerConfigSecrets
        return secrets.contains(name) ? name : secrets.first
    }

    /// In manifests, pods without the secret get it: an `imagePullSecrets` beside `containers`,
    /// or the secret added to the list they have.
    static func manifestPullSecretChanges(_ file: SourceFile, secret: String) throws(ToolingError) -> (edits: [Edit], insertions: [(line: Int, text: [String])]) {
        var edits: [Edit] = []
        var insertions: [(line: Int, text: [String])] = []
        for site in try ImageFinder.podSpecs(in: file) where !site.pullSecrets.contains(secret) {
            if let empty = site.pullSecretsNull {
                edits.append(Edit(line: empty.line, column: empty.column, old: empty.text,
                                  new: (empty.text.isEmpty ? " " : "") + "[{name: \(secret)}]", exact: true))
            } else if let line = site.pullSecretsLine, let column = site.pullSecretsColumn {
                if site.pullSecretsFlow {
                    edits.append(Edit(line: line, column: column + 1, old: "", new: "{name: \(secret)}" + (site.pullSecretsEmpty ? "" : ", "), exact: true))
                } else {
                    insertions.append((line, [String(repeating: " ", count: column - 1) + "- name: \(secret)"]))
                }
            } else if !site.hasPullSecrets {
                let indent = String(repeating: " ", count: site.containersColumn - 1)
                insertions.append((site.containersLine, ["\(indent)imagePullSecrets:", "\(indent)- name: \(secret)"]))
            }
        }
        return (edits, insertions)
    }

    static func edits(for occurrence: ImageOccurrence, to proxied: ImageReference) -> [Edit] {
        switch occurrence.form {
        case .string(let spot):
            return [Edit(line: spot.line, column: spot.column, old: spot.value, new: proxied.description)]
        case .argument(let spot, let prefix):
            return [Edit(line: spot.line, column: spot.column, old: spot.value, new: prefix + proxied.description)]
        case .map(let registry, let repository):
            // Keep whatever the repository value itself carried (some charts put the tag there).
            let inner = ImageReference.parse(repository.value)
            let suffix = (inner?.tag.map { ":" + $0 } ?? "") + (inner?.digest.map { "@" + $0 } ?? "")
            if let registry, !registry.value.isEmpty {
                return [Edit(line: registry.line, column: registry.column, old: registry.value, new: proxied.registry ?? ""),
                        Edit(line: repository.line, column: repository.column, old: repository.value, new: proxied.repository + suffix)]
            }
            return [Edit(line: repository.line, column: repository.column, old: repository.value, new: proxied.name + suffix)]
        }
    }

    static func apply(_ edits: [Edit], insertions: [(line: Int, text: [String])], to file: SourceFile) throws(ToolingError) -> String {
        var lines = file.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // An alias repeats its anchor's node: edit each place once.
        var seen = Set<[Int]>()
        let unique = edits.filter { seen.insert([$0.line, $0.column]).inserted }
        for edit in unique.sorted(by: { ($0.line, $0.column) > ($1.line, $1.column) }) {
            guard edit.line >= 1, edit.line <= lines.count else {
                throw ToolingError(file: file.path, line: edit.line, message: "value moved while editing")
            }
            var chars = Array(lines[edit.line - 1])
            let start = min(max(edit.column - 1, 0), chars.count)
            let old = Array(edit.old)
            let candidates = edit.exact ? start...start : start...max(start, chars.count - old.count)
            guard let at = candidates.first(where: { i in
                i + old.count <= chars.count && Array(chars[i..<(i + old.count)]) == old
            }) else {
                throw ToolingError(file: file.path, line: edit.line, message: "cannot rewrite a multi-line or escaped value; edit it by hand")
            }
            chars.replaceSubrange(at..<(at + old.count), with: Array(edit.new))
            lines[edit.line - 1] = String(chars)
        }
        for insertion in insertions.sorted(by: { $0.line > $1.line }) {
            lines.insert(contentsOf: insertion.text, at: insertion.line - 1)
        }
        return lines.joined(separator: "\n")
    }

    /// The templates directory of the top chart among the inputs; nil when no chart was given.
    static func chartTemplateDirectory(_ files: [SourceFile]) -> String? {
        let roots = Set(files.compactMap(\.chart))
        guard let top = roots.min(by: { $0.count < $1.count }) else { return nil }
        return top + "/templates"
    }

    /// The pull-secret template from the vendor documentation.
    public static func pullSecretTemplate(name: String) -> String {
        """
        {{ if hasKey ((.Values.global).replicated) "dockerconfigjson" }}
        apiVersion: v1
        kind: Secret
        metadata:
          name: \(name)
        type: kubernetes.io/dockerconfigjson
        data:
          .dockerconfigjson: {{ .Values.global.replicated.dockerconfigjson }}
        {{ end }}

        """
    }

    /// A kustomization that points every image at the proxy, leaving the manifests untouched.
    public static func kustomization(resources: [String], occurrences: [ImageOccurrence], target: ProxyTarget) throws(ToolingError) -> String {
        var lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
        lines += resources.map { "- \($0)" }
        var seen = Set<String>()
        var images: [String] = []
        for o in occurrences where !target.isOnProxy(o.reference) && seen.insert(o.reference.name).inserted {
            let proxied: ImageReference
            do { proxied = try target.proxied(o.reference) } catch { throw ToolingError(file: o.file, line: o.line, message: error.message) }
            images += ["- name: \(o.reference.name)", "  newName: \(proxied.name)"]
        }
        if !images.isEmpty { lines += ["images:"] + images }
        return lines.joined(separator: "\n") + "\n"
    }
}
