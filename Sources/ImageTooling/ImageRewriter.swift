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

    /// What a rewrite did: the new texts of changed files, the changes, and the images it could
    /// not tell and so left alone (each with where and why).
    public struct Result: Sendable {
        public var files: [SourceFile]
        public var changes: [ImageChange]
        public var unresolved: [ChartImage]
    }

    /// Rewrites every file; returns new texts (changed files only) and the changes. Charts are
    /// followed through their templates: the values (or template text) an image is made of
    /// are rewritten, whatever they are called.
    public static func rewrite(_ files: [SourceFile], target: ProxyTarget, include: (ImageReference) -> Bool = { _ in true },
                               pullSecret: String? = defaultPullSecret) throws(ToolingError) -> Result {
        var changed: [SourceFile] = []
        var changes: [ImageChange] = []
        var hasSecretTemplate = files.contains { $0.role == .template && $0.text.contains("kubernetes.io/dockerconfigjson") }
        let chartImages = try ChartImageFinder.find(in: files)
        var chartEdits: [String: [Edit]] = [:]
        var byPlace: [String: FileEdit] = [:]
        for image in chartImages {
            guard let reference = image.reference, !target.isOnProxy(reference), include(reference) else { continue }
            let proxied: ImageReference
            do { proxied = try target.proxied(reference) } catch {
                throw ToolingError(file: image.location.file, line: image.location.line, message: error.message)
            }
            for edit in try edits(for: image, to: proxied) {
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
            let change = ImageChange(file: image.location.file, line: image.location.line, from: reference.description, to: proxied.description)
            if !changes.contains(change) { changes.append(change) }
        }
        for file in files {
            var edits: [Edit] = chartEdits[file.path] ?? []
            var insertions: [(line: Int, text: [String])] = []
            for occurrence in try ImageFinder.find(in: file) where !target.isOnProxy(occurrence.reference) && include(occurrence.reference) {
                let proxied: ImageReference
                do { proxied = try target.proxied(occurrence.reference) } catch {
                    throw ToolingError(file: file.path, line: occurrence.line, message: error.message)
                }
                edits += Self.edits(for: occurrence, to: proxied)
                let change = ImageChange(file: file.path, line: occurrence.line, from: occurrence.reference.description, to: proxied.description)
                if !changes.contains(change) { changes.append(change) }
            }
            if let pullSecret {
                switch file.role {
                case .manifests:
                    for site in try ImageFinder.podSpecs(in: file) where !site.hasPullSecrets {
                        let indent = String(repeating: " ", count: site.containersColumn - 1)
                        insertions.append((site.containersLine, ["\(indent)imagePullSecrets:", "\(indent)- name: \(pullSecret)"]))
                    }
                case .template where !(file.path.split(separator: "/").last ?? "").hasPrefix("_"):
                    insertions += templatePullSecretInsertions(file.text, secret: pullSecret)
                case .template:
                    break
                case .values, .chartMetadata:
                    break
                }
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
        return Result(files: changed, changes: changes, unresolved: chartImages.filter { $0.reference == nil })
    }

    static func edits(for occurrence: ImageOccurrence, to proxied: ImageReference) -> [Edit] {
        switch occurrence.form {
        case .string(let spot):
            return [Edit(line: spot.line, column: spot.column, old: spot.value, new: proxied.description)]
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

    /// In workload templates without pull secrets, the tutorial's guarded block before each `containers:`.
    static func templatePullSecretInsertions(_ text: String, secret: String) -> [(line: Int, text: [String])] {
        guard ChartLinter.isWorkloadTemplate(text), !text.contains("imagePullSecrets") else { return [] }
        var out: [(line: Int, text: [String])] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("containers:"), trimmed.dropFirst("containers:".count).allSatisfy({ $0 == " " }) else { continue }
            let indent = String(repeating: " ", count: line.count - trimmed.count)
            out.append((i + 1, [
                // `$`, not `.`: inside `range` or `with` the dot is something else.
                "\(indent){{ if hasKey (($.Values.global).replicated) \"dockerconfigjson\" }}",
                "\(indent)imagePullSecrets:",
                "\(indent)  - name: \(secret)",
                "\(indent){{ end }}",
            ]))
        }
        return out
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
