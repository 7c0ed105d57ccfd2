import OCI

public struct LintFinding: Equatable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning }

    public var file: String
    public var line: Int?
    public var severity: Severity
    public var message: String

    public var description: String {
        (line.map { "\(file):\($0)" } ?? file) + ": \(severity.rawValue): \(message)"
    }
}

/// Checks that a chart is ready for the proxy: every image its templates deploy goes through
/// it, every workload names the pull secret, and the pull-secret template is the one the
/// vendor docs describe. An image it cannot tell is never counted as fine: it is a warning,
/// and an error with `strict`.
public enum ChartLinter {
    static let workloadKinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController"]

    public static func lint(_ files: [SourceFile], app: String, proxyHost: String?, strict: Bool = false) throws(ToolingError) -> [LintFinding] {
        var findings: [LintFinding] = []
        func proxiedOK(_ reference: ImageReference) -> Bool {
            if let proxyHost, reference.registry?.lowercased() != proxyHost.lowercased() { return false }
            guard reference.registry != nil else { return false }
            return reference.repository.hasPrefix("proxy/\(app)/") || reference.repository.hasPrefix("\(app)/")
        }
        let where_ = proxyHost.map { "\($0)/proxy/\(app)/…" } ?? "<host>/proxy/\(app)/…"
        for file in files where file.role == .values || file.role == .manifests {
            for o in try ImageFinder.find(in: file) where !proxiedOK(o.reference) {
                findings.append(LintFinding(file: file.path, line: o.line, severity: .error,
                                            message: "image \(o.reference) bypasses the proxy (expected \(where_))"))
            }
        }
        for image in try ChartImageFinder.find(in: files) {
            let at = image.location
            guard let reference = image.reference else {
                findings.append(LintFinding(file: at.file, line: at.line, severity: strict ? .error : .warning,
                                            message: "cannot tell which image \(image.fieldDescription) deploys: \(image.problem ?? "unknown")"))
                continue
            }
            guard !proxiedOK(reference) else { continue }
            let origin = image.valuePaths.isEmpty ? "written in the template at \(image.field)" : "rendered at \(image.field)"
            if image.speculative {
                findings.append(LintFinding(file: at.file, line: at.line, severity: .warning,
                                            message: "image \(reference) bypasses the proxy (expected \(where_)); \(origin), in a branch the chart's values do not render"))
            } else {
                findings.append(LintFinding(file: at.file, line: at.line, severity: .error,
                                            message: "image \(reference) bypasses the proxy (expected \(where_)); \(origin)"))
            }
        }
        let templates = files.filter { $0.role == .template }
        for t in templates {
            if isWorkloadTemplate(t.text), !t.text.contains("imagePullSecrets") {
                findings.append(LintFinding(file: t.path, line: lineOf("containers:", in: t.text), severity: .error,
                                            message: "workload does not set imagePullSecrets, so its pods cannot pull through the proxy"))
            }
        }
        findings += secretTemplateFindings(templates, chartPath: ImageRewriter.chartTemplateDirectory(files) ?? "templates")
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
