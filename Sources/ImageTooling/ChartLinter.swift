import OCI

public struct LintFinding: Equatable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }

    public var file: String
    public var line: Int?
    public var severity: Severity
    public var message: String

    public init(file: String, line: Int?, severity: Severity, message: String) {
        self.file = file
        self.line = line
        self.severity = severity
        self.message = message
    }

    public var description: String {
        "\(place): \(severity.rawValue): \(message)"
    }

    /// `file:line`, or the file alone.
    public var place: String { line.map { "\(file):\($0)" } ?? file }
}

/// Checks that a chart is ready for the proxy, on what it renders: every image its templates
/// deploy goes through it (with the chart's values, and in the branches other values take),
/// every pod that pulls through it names the pull secret once Portcullis has injected its
/// values (itself or through its service account), and the pull-secret template is the one
/// the vendor documents describe. An image it cannot tell is never counted as fine: it is an
/// error unless accepted by place (`file:line` as the finding names it, or `all`).
public enum ChartLinter {
    static let workloadKinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController"]

    /// An image the chart pulls through the proxy, and where: whether the app has a registry that
    /// serves it is the server's to say (`ControlPlane.lint`), not the chart's.
    public struct ProxiedImage: Sendable, Equatable {
        public var reference: ImageReference
        public var file: String
        public var line: Int?
    }

    public static func lint(_ files: [SourceFile], app: String, proxyHost: String?, strict: Bool = false,
                            acceptUnknown: Set<String> = []) throws(ToolingError) -> [LintFinding] {
        try lintFindingProxied(files, app: app, proxyHost: proxyHost, strict: strict, acceptUnknown: acceptUnknown).findings
    }

    /// The findings, and the images that go through the proxy (each place once).
    public static func lintFindingProxied(_ files: [SourceFile], app: String, proxyHost: String?, strict: Bool = false,
                                          acceptUnknown: Set<String> = []) throws(ToolingError)
        -> (findings: [LintFinding], proxied: [ProxiedImage]) {
        var findings: [LintFinding] = []
        var proxied: [ProxiedImage] = []
        func keep(_ reference: ImageReference, _ file: String, _ line: Int?) {
            let image = ProxiedImage(reference: reference, file: file, line: line)
            if !proxied.contains(image) { proxied.append(image) }
        }
        func proxiedOK(_ reference: ImageReference) -> Bool {
            if let proxyHost, reference.registry?.lowercased() != proxyHost.lowercased() { return false }
            guard reference.registry != nil else { return false }
            return reference.repository.hasPrefix("proxy/\(app)/") || reference.repository.hasPrefix("\(app)/")
        }
        let where_ = proxyHost.map { "\($0)/proxy/\(app)/…" } ?? "<host>/proxy/\(app)/…"
        for file in files where file.role == .values || file.role == .manifests {
            for o in try ImageFinder.find(in: file) {
                guard !proxiedOK(o.reference) else {
                    keep(o.reference, file.path, o.line)
                    continue
                }
                findings.append(LintFinding(file: file.path, line: o.line, severity: .error,
                                            message: "image \(o.reference) bypasses the proxy (expected \(where_))"))
            }
        }
        let templates = files.filter { $0.role == .template }
        findings += secretTemplateFindings(templates, chartPath: ImageRewriter.chartTemplateDirectory(files) ?? "templates")
        guard files.contains(where: { $0.chart != nil }) else { return (findings, proxied) }
        let renderer = try ChartRenderer(files)
        for image in ChartImageFinder.find(in: renderer.render()) {
            let at = image.location
            guard let reference = image.reference else {
                let accepted = acceptUnknown.contains("all") || acceptUnknown.contains("\(at.file):\(at.line)")
                findings.append(LintFinding(file: at.file, line: at.line, severity: accepted && !strict ? .warning : .error,
                                            message: "cannot tell which image \(image.fieldDescription) deploys: \(image.problem ?? "unknown")"
                                                + (accepted ? " (accepted)" : "; follow it by hand and accept it with --accept-unknown \(at.file):\(at.line)")))
                continue
            }
            guard !proxiedOK(reference) else {
                keep(reference, at.file, at.line)
                continue
            }
            let origin = image.valuePaths.isEmpty ? "written in the template at \(image.field)" : "rendered at \(image.field)"
            findings.append(LintFinding(file: at.file, line: at.line, severity: .error,
                                        message: "image \(reference) bypasses the proxy (expected \(where_)); \(origin)"
                                            + (image.speculative ? ", in a branch the chart's values do not render" : "")))
        }
        findings += podFindings(renderer, proxiedOK: proxiedOK, strict: strict)
        return (findings, proxied)
    }

    /// With the values Portcullis injects, every pod that pulls through the proxy must name a
    /// pull secret the chart renders from them.
    static func podFindings(_ renderer: ChartRenderer, proxiedOK: (ImageReference) -> Bool, strict: Bool) -> [LintFinding] {
        let workloads = RenderedWorkloads(renderer.render(overrides: PullSecretPlanner.injected()))
        var findings: [LintFinding] = []
        for (template, problem) in workloads.unreadable {
            findings.append(LintFinding(file: template, line: nil, severity: strict ? .error : .warning,
                                        message: "cannot check the pull secrets of its pods: \(problem)"))
        }
        // Without a pull-secret template (a finding of its own) no pod can name one.
        let secrets = workloads.dockerConfigSecrets
        var seen = Set<String>()
        for pod in workloads.pods where pod.images.contains(where: { ImageReference.parse($0).map(proxiedOK) ?? false }) {
            guard !secrets.contains(where: { workloads.names(pod, $0) }), seen.insert(pod.id + pod.workload).inserted else { continue }
            let at = pod.containersAt
            findings.append(LintFinding(file: at?.file ?? pod.template, line: at?.line, severity: .error,
                                        message: "the pods of \(pod.workload) pull through the proxy but name no pull secret"
                                            + (pod.speculative ? " (with values other than the chart's own)" : "")
                                            + ": set the values the chart takes pull secrets from to \(secrets.first ?? ImageRewriter.defaultPullSecret) (`portcullis images rewrite` does), or add imagePullSecrets"))
        }
        return findings
    }

    static func secretTemplateFindings(_ templates: [SourceFile], chartPath: String) -> [LintFinding] {
        let secrets = templates.filter { $0.text.contains("global.replicated.dockerconfigjson") && $0.text.contains("kind: Secret") }
        guard !secrets.isEmpty else {
            return [LintFinding(file: chartPath, line: nil, severity: .error,
                                message: "no pull-secret template: add a Secret of type kubernetes.io/dockerconfigjson rendering .Values.global.replicated.dockerconfigjson (`portcullis images rewrite` adds one)")]
        }
        var out: [LintFinding] = []
        for s in secrets {
            if !s.text.contains("kubernetes.io/dockerconfigjson") {
                out.append(LintFinding(file: s.path, line: lineOf("type:", in: s.text), severity: .error,
                                       message: "pull secret must have type kubernetes.io/dockerconfigjson"))
            }
            let guarded = s.text.split(separator: "\n").contains { line in
                (line.contains("{{ if ") || line.contains("{{if ") || line.contains("{{- if ")) && line.contains("dockerconfigjson")
            }
            if !guarded {
                out.append(LintFinding(file: s.path, line: 1, severity: .error,
                                       message: "pull-secret template is not guarded by `if` on global.replicated.dockerconfigjson; installs without Portcullis would render an empty secret"))
            }
            for (i, line) in s.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.trimmingCharacters(in: " ") == "name: replicated" {
                out.append(LintFinding(file: s.path, line: i + 1, severity: .error,
                                       message: "a pull secret named `replicated` clashes with the Secret the SDK creates; use replicated-pull-secret"))
            }
        }
        return out
    }

    static func isWorkloadTemplate(_ text: String) -> Bool {
        text.split(separator: "\n").contains { line in
            let t = line.trimmingCharacters(in: " ")
            return t.hasPrefix("kind:") && workloadKinds.contains(t.dropFirst(5).trimmingCharacters(in: " \"'"))
        }
    }

    static func lineOf(_ needle: String, in text: String) -> Int? {
        text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(needle) }.map { $0 + 1 }
    }
}
