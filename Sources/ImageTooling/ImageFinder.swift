import OCI
import Yams

/// A scalar's place in a file, enough to replace its text without touching anything else.
public struct ScalarSpot: Equatable, Sendable {
    public var line: Int
    /// 1-based column of the node (the opening quote, for quoted scalars).
    public var column: Int
    public var value: String
}

/// An image reference found in a file.
public struct ImageOccurrence: Equatable, Sendable {
    public enum Form: Equatable, Sendable {
        /// `image: registry/repo:tag`
        case string(ScalarSpot)
        /// `{registry: …, repository: …, tag: …, digest: …}` in Helm values.
        case map(registry: ScalarSpot?, repository: ScalarSpot)
        /// A container argument naming an image: `--solver-image=REF` (the spot is the whole argument).
        case argument(ScalarSpot, prefix: String)
    }

    public var file: String
    public var line: Int
    public var reference: ImageReference
    public var form: Form
    /// Where it sits: `Deployment/web containers[0]`, or the values key path.
    public var context: String
}

/// A pod spec in a manifest, and whether it names image pull secrets.
public struct PodSpecSite: Equatable, Sendable {
    public var file: String
    public var workload: String
    public var hasPullSecrets: Bool
    /// Where `containers:` sits, to insert `imagePullSecrets` beside it.
    public var containersLine: Int
    public var containersColumn: Int
    /// The names in `imagePullSecrets`.
    public var pullSecrets: [String] = []
    /// Where the `imagePullSecrets` list is written (its `[`, or its first `-`), and how.
    public var pullSecretsLine: Int?
    public var pullSecretsColumn: Int?
    public var pullSecretsFlow = false
    public var pullSecretsEmpty = true
    /// An `imagePullSecrets` with no list (`null`, `~`, nothing, `{}`: what Helm renders from
    /// `{{ toYaml .Values.x }}` when the value is unset): where its value text is, and the text.
    public var pullSecretsNull: (line: Int, column: Int, text: String)?

    public static func == (a: PodSpecSite, b: PodSpecSite) -> Bool {
        a.file == b.file && a.workload == b.workload && a.hasPullSecrets == b.hasPullSecrets && a.containersLine == b.containersLine
            && a.containersColumn == b.containersColumn && a.pullSecrets == b.pullSecrets && a.pullSecretsLine == b.pullSecretsLine
            && a.pullSecretsColumn == b.pullSecretsColumn && a.pullSecretsFlow == b.pullSecretsFlow && a.pullSecretsEmpty == b.pullSecretsEmpty
            && a.pullSecretsNull?.line == b.pullSecretsNull?.line && a.pullSecretsNull?.column == b.pullSecretsNull?.column
            && a.pullSecretsNull?.text == b.pullSecretsNull?.text
    }
}

/// Finds image references: containers of every workload kind in manifests (init and
/// ephemeral containers, CronJob templates, anything with a pod template), and in values
/// files both `image:` strings and `repository`/`registry`/`tag`/`digest` maps.
public enum ImageFinder {
    static let containerKeys: Set<String> = ["containers", "initContainers", "ephemeralContainers"]

    public static func find(in file: SourceFile) throws(ToolingError) -> [ImageOccurrence] {
        switch file.role {
        // Charts are followed through their templates (`ChartImageFinder`), not read by key names.
        case .template, .chartMetadata, .chartFile: return []
        case .values where file.chart != nil: return []
        case .manifests:
            var out: [ImageOccurrence] = []
            for doc in try composeAll(file) { manifestImages(doc, file: file.path, workload: workloadName(doc), into: &out) }
            return out
        case .values:
            var out: [ImageOccurrence] = []
            for doc in try composeAll(file) { valuesImages(doc, file: file.path, path: [], into: &out) }
            return out
        }
    }

    public static func podSpecs(in file: SourceFile) throws(ToolingError) -> [PodSpecSite] {
        guard file.role == .manifests else { return [] }
        var out: [PodSpecSite] = []
        for doc in try composeAll(file) { collectPodSpecs(doc, file: file.path, text: file.text, workload: workloadName(doc), into: &out) }
        return out
    }

    static func workloadName(_ doc: Node) -> String {
        let kind = doc.mapping?["kind"]?.string ?? "document"
        let name = doc.mapping?["metadata"]?.mapping?["name"]?.string ?? "?"
        return "\(kind)/\(name)"
    }

    static func spot(_ node: Node) -> ScalarSpot? {
        guard let scalar = node.scalar, let mark = scalar.mark else { return nil }
        return ScalarSpot(line: mark.line, column: mark.column, value: scalar.string)
    }

    static func manifestImages(_ node: Node, file: String, workload: String, into out: inout [ImageOccurrence]) {
        if let mapping = node.mapping {
            for (key, value) in mapping {
                if let k = key.string, containerKeys.contains(k), let list = value.sequence {
                    for (i, container) in list.enumerated() {
                        for key in ["args", "command"] {
                            for argument in container.mapping?[key]?.sequence ?? [] {
                                guard let spot = spot(argument), let (prefix, value) = imageArgument(spot.value),
                                      let reference = ImageReference.parse(value) else { continue }
                                out.append(ImageOccurrence(file: file, line: spot.line, reference: reference, form: .argument(spot, prefix: prefix),
                                                           context: "\(workload) \(k)[\(i)] \(key)"))
                            }
                        }
                        guard let imageNode = container.mapping?["image"], let spot = spot(imageNode),
                              let reference = ImageReference.parse(spot.value) else { continue }
                        out.append(ImageOccurrence(file: file, line: spot.line, reference: reference, form: .string(spot),
                                                   context: "\(workload) \(k)[\(i)]"))
                    }
                } else {
                    manifestImages(value, file: file, workload: workload, into: &out)
                }
            }
        } else if let sequence = node.sequence {
            for item in sequence { manifestImages(item, file: file, workload: workload, into: &out) }
        }
    }

    static func collectPodSpecs(_ node: Node, file: String, text: String, workload: String, into out: inout [PodSpecSite]) {
        if let mapping = node.mapping {
            if let containersKey = mapping.keys.first(where: { $0.string == "containers" }), let mark = containersKey.mark,
               mapping["containers"]?.sequence != nil {
                var site = PodSpecSite(file: file, workload: workload, hasPullSecrets: mapping["imagePullSecrets"] != nil,
                                       containersLine: mark.line, containersColumn: mark.column)
                if let list = mapping["imagePullSecrets"], case .sequence(let items) = list, let at = list.mark {
                    site.pullSecrets = RenderedWorkloads.secretNames(list)
                    site.pullSecretsLine = at.line
                    site.pullSecretsColumn = at.column
                    site.pullSecretsFlow = ValuesEditor.startsFlow(list, in: text)
                    site.pullSecretsEmpty = items.isEmpty
                } else if let key = mapping.keys.first(where: { $0.string == "imagePullSecrets" }), let keyMark = key.mark,
                          let value = mapping["imagePullSecrets"] {
                    site.pullSecretsNull = nullValue(value, after: keyMark, in: text)
                }
                out.append(site)
            }
            for (_, value) in mapping { collectPodSpecs(value, file: file, text: text, workload: workload, into: &out) }
        } else if let sequence = node.sequence {
            for item in sequence { collectPodSpecs(item, file: file, text: text, workload: workload, into: &out) }
        }
    }

    /// Where an `imagePullSecrets` value that holds no list is written, when it is one of the
    /// spellings of nothing: a null scalar, no text at all (then just after the key's colon), or `{}`.
    static func nullValue(_ value: Node, after key: Mark, in text: String) -> (line: Int, column: Int, text: String)? {
        if let mapping = value.mapping, mapping.isEmpty, let at = value.mark {
            // As written: `{}`, or `{ }` with whatever space between, on the line it starts.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard at.line - 1 < lines.count else { return nil }
            let rest = lines[at.line - 1].dropFirst(at.column - 1)
            guard rest.first == "{", let close = rest.firstIndex(of: "}") else { return nil }
            return (at.line, at.column, String(rest[...close]))
        }
        guard case .scalar(let scalar) = value, scalar.style == .plain, ["", "null", "Null", "NULL", "~"].contains(scalar.string) else { return nil }
        if !scalar.string.isEmpty, let at = value.mark { return (at.line, at.column, scalar.string) }
        // No text: right after `imagePullSecrets:` on the key's line.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard key.line - 1 < lines.count else { return nil }
        let line = lines[key.line - 1]
        guard let colon = line.dropFirst(key.column - 1).firstIndex(of: ":") else { return nil }
        return (key.line, line.distance(from: line.startIndex, to: colon) + 2, "")
    }

    static func valuesImages(_ node: Node, file: String, path: [String], into out: inout [ImageOccurrence]) {
        if let mapping = node.mapping {
            if let repositoryNode = mapping["repository"], let repository = spot(repositoryNode) {
                let registry = mapping["registry"].flatMap(spot)
                let tag = mapping["tag"]?.scalar?.string
                let digest = mapping["digest"]?.scalar?.string
                var text = repository.value
                if let registry, !registry.value.isEmpty { text = registry.value + "/" + text }
                if let tag, !tag.isEmpty, !repository.value.contains(":") { text += ":" + tag }
                if let digest, !digest.isEmpty, !repository.value.contains("@") { text += "@" + digest }
                if let reference = ImageReference.parse(text) {
                    out.append(ImageOccurrence(file: file, line: repository.line, reference: reference,
                                               form: .map(registry: registry, repository: repository), context: path.joined(separator: ".")))
                    return
                }
            }
            for (key, value) in mapping {
                let k = key.string ?? "?"
                if k == "image", let s = spot(value), let reference = ImageReference.parse(s.value), looksLikeImage(s.value) {
                    out.append(ImageOccurrence(file: file, line: s.line, reference: reference, form: .string(s),
                                               context: (path + [k]).joined(separator: ".")))
                } else {
                    valuesImages(value, file: file, path: path + [k], into: &out)
                }
            }
        } else if let sequence = node.sequence {
            for (i, item) in sequence.enumerated() { valuesImages(item, file: file, path: path + ["[\(i)]"], into: &out) }
        }
    }

    /// `--acme-http01-solver-image=quay.io/…` split into `--acme-http01-solver-image=` and the reference.
    static func imageArgument(_ text: String) -> (prefix: String, value: String)? {
        guard text.hasPrefix("--"), let equals = text.firstIndex(of: "=") else { return nil }
        let name = text[..<equals]
        guard name.lowercased().hasSuffix("image"), name.dropFirst(2).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        let value = String(text[text.index(after: equals)...])
        return value.isEmpty ? nil : (String(text[...equals]), value)
    }

    /// `image: nginx` is an image; `image: true` or `image: ""` is not.
    static func looksLikeImage(_ text: String) -> Bool {
        !text.isEmpty && text != "true" && text != "false" && text.contains(where: { $0.isLetter })
    }
}
