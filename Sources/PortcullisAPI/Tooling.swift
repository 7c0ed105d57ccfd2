import Foundation

public struct LintRequest: Codable, Sendable {
    /// A chart archive (.tgz), base64.
    public var chart: String
    public var name: String?
    public var proxyHost: String?

    public init(chart: String, name: String?, proxyHost: String?) {
        self.chart = chart
        self.name = name
        self.proxyHost = proxyHost
    }
}

public struct LintFindingBody: Codable, Sendable, Equatable {
    public var file: String
    public var line: Int?
    /// `error` or `warning`.
    public var severity: String
    public var message: String

    public init(file: String, line: Int?, severity: String, message: String) {
        self.file = file
        self.line = line
        self.severity = severity
        self.message = message
    }
}

public struct LintResult: Codable, Sendable {
    public var findings: [LintFindingBody]

    public init(findings: [LintFindingBody]) { self.findings = findings }
}

public struct FindImagesRequest: Codable, Sendable {
    public var yaml: String
    /// `manifests` (default) or `values`.
    public var kind: String?
    public var name: String?

    public init(yaml: String, kind: String?, name: String?) {
        self.yaml = yaml
        self.kind = kind
        self.name = name
    }
}

public struct FoundImage: Codable, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var image: String
    public var context: String

    public init(file: String, line: Int, image: String, context: String) {
        self.file = file
        self.line = line
        self.image = image
        self.context = context
    }
}
