import Foundation

/// What Helm gives a chart's templates besides `.Values`, as `helm template` gives it: no
/// cluster, so `.Capabilities` is Helm's default set and `lookup` finds nothing.
enum ChartContext {
    /// The Kubernetes version Helm assumes without a cluster (Helm 4.2's default).
    static let kubeVersion = (version: "v1.36.0", major: "1", minor: "36")
    static let helmVersion = "v4.2"

    /// The API versions Helm's default capabilities list (Helm 4.2, read from its `.Capabilities.APIVersions`).
    static let apiVersions = [
        "v1", "admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1alpha1", "admissionregistration.k8s.io/v1beta1",
        "internal.apiserver.k8s.io/v1alpha1", "apps/v1", "apps/v1beta1", "apps/v1beta2", "authentication.k8s.io/v1",
        "authentication.k8s.io/v1alpha1", "authentication.k8s.io/v1beta1", "authorization.k8s.io/v1", "authorization.k8s.io/v1beta1",
        "autoscaling/v1", "autoscaling/v2", "batch/v1", "batch/v1beta1", "certificates.k8s.io/v1", "certificates.k8s.io/v1beta1",
        "certificates.k8s.io/v1alpha1", "coordination.k8s.io/v1alpha2", "coordination.k8s.io/v1beta1", "coordination.k8s.io/v1",
        "discovery.k8s.io/v1", "discovery.k8s.io/v1beta1", "events.k8s.io/v1", "events.k8s.io/v1beta1", "extensions/v1beta1",
        "flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta1", "flowcontrol.apiserver.k8s.io/v1beta2",
        "flowcontrol.apiserver.k8s.io/v1beta3", "networking.k8s.io/v1", "networking.k8s.io/v1beta1", "node.k8s.io/v1",
        "node.k8s.io/v1alpha1", "node.k8s.io/v1beta1", "policy/v1", "policy/v1beta1", "rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io/v1beta1", "rbac.authorization.k8s.io/v1alpha1", "resource.k8s.io/v1", "resource.k8s.io/v1beta2",
        "resource.k8s.io/v1beta1", "resource.k8s.io/v1alpha3", "scheduling.k8s.io/v1alpha2", "scheduling.k8s.io/v1beta1",
        "scheduling.k8s.io/v1", "storage.k8s.io/v1beta1", "storage.k8s.io/v1", "storage.k8s.io/v1alpha1",
        "storagemigration.k8s.io/v1beta1", "apiextensions.k8s.io/v1beta1", "apiextensions.k8s.io/v1",
    ]

    /// `.Files`: the chart's other files, path → text.
    static func filesValue(_ files: [String: TracedText]) -> TemplateValue {
        .map(TemplateMap(files.mapValues { .string($0) }, isFiles: true))
    }

    /// Made fresh for each render: templates may change what they are given.
    static func release() -> TemplateValue {
        .dict([
        "Name": .string(.computed("release-name", "the release name")), "Namespace": .string(.computed("default", "the release namespace")),
        "Service": .text("Helm"), "IsInstall": .bool(true), "IsUpgrade": .bool(false), "Revision": .int(1, nil),
        ])
    }

    static func capabilities() -> TemplateValue {
        .dict([
            "KubeVersion": .dict(["Version": .text(kubeVersion.version), "GitVersion": .text(kubeVersion.version),
                                  "Major": .text(kubeVersion.major), "Minor": .text(kubeVersion.minor)]),
            "APIVersions": .list(apiVersions.map { .text($0) }),
            "HelmVersion": .dict(["Version": .text(helmVersion), "GitCommit": .text(""), "GitTreeState": .text(""), "GoVersion": .text("")]),
        ])
    }

    /// The root a template of `chart` sees: `.Values`, `.Chart`, `.Release`, `.Capabilities`,
    /// `.Files`, `.Template`.
    static func root(values: TemplateValue, chart: TemplateValue, files: [String: String], template: String, basePath: String) -> TemplateValue {
        .dict([
            "Values": values, "Chart": chart, "Release": release(), "Capabilities": capabilities(),
            "Files": filesValue(files.mapValues { .computed($0, "a chart file") }),
            "Template": .dict(["Name": .string(.computed(template)), "BasePath": .string(.computed(basePath))]),
        ])
    }

    /// `.Files.Get`, `.Files.Glob`, `.AsConfig`, `.AsSecrets`, `.Lines`, as Helm's `Files` answers them.
    static func files(_ method: String, on receiver: TemplateMap, _ args: [TemplateValue]) -> TemplateValue {
        let files = receiver.entries.mapValues { $0.text ?? TracedText() }
        switch method {
        case "Get", "GetBytes":
            guard args.count == 1 else { return TemplateFunctions.arity(method) }
            return .string(files[args[0].string] ?? TracedText())
        case "Lines":
            guard args.count == 1 else { return TemplateFunctions.arity(method) }
            guard let text = files[args[0].string] else { return .list([]) }
            return .list(StringFunctions.pieces(text, separator: "\n", limit: -1).map { .string($0) })
        case "Glob":
            guard args.count == 1 else { return TemplateFunctions.arity(method) }
            let matcher = Glob(args[0].string)
            return filesValue(files.filter { matcher.matches($0.key) })
        case "AsConfig", "AsSecrets":
            var map: [String: TemplateValue] = [:]
            for (path, text) in files {
                let name = path.split(separator: "/").last.map(String.init) ?? path
                map[name] = method == "AsConfig" ? .string(text) : .text(Data(text.string.utf8).base64EncodedString())
            }
            return map.isEmpty ? .text("") : .string(TracedYAML.write(.dict(map)))
        default:
            return .unknown("\(method) is not a method of .Files")
        }
    }
}

/// A path pattern as Helm's `.Files.Glob` reads it: `*` within a path segment, `**` across
/// segments, `?` one character, `{a,b}` alternatives.
struct Glob {
    private let regex: NSRegularExpression?

    init(_ pattern: String) {
        var out = "^"
        var chars = Array(pattern)[...]
        var inBraces = false
        while let c = chars.popFirst() {
            switch c {
            case "*":
                if chars.first == "*" {
                    chars.removeFirst()
                    out += ".*"
                } else {
                    out += "[^/]*"
                }
            case "?": out += "[^/]"
            case "{": out += "(?:"; inBraces = true
            case "}" where inBraces: out += ")"; inBraces = false
            case "," where inBraces: out += "|"
            default: out += NSRegularExpression.escapedPattern(for: String(c))
            }
        }
        regex = try? NSRegularExpression(pattern: out + "$")
    }

    func matches(_ path: String) -> Bool {
        regex?.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }
}
