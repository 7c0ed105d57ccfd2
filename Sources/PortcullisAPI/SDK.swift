import Foundation

/// A JSON scalar as license fields and custom metrics carry them.
public enum JSONScalar: Codable, Sendable, Equatable, CustomStringConvertible {
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) { self = .boolean(b) }
        else if let i = try? container.decode(Int.self) { self = .integer(i) }
        else if let d = try? container.decode(Double.self) { self = .number(d) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else {
            throw DecodingError.typeMismatch(JSONScalar.self, .init(codingPath: decoder.codingPath,
                                                                     debugDescription: "a number, a boolean or a string"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let i): try container.encode(i)
        case .number(let d): try container.encode(d)
        case .boolean(let b): try container.encode(b)
        case .string(let s): try container.encode(s)
        }
    }

    /// The value's text: `25`, `true`, the string itself.
    public var description: String {
        switch self {
        case .integer(let i): String(i)
        case .number(let d): String(d)
        case .boolean(let b): b ? "true" : "false"
        case .string(let s): s
        }
    }
}

/// A license field as charts and the SDK see it (the shape of `global.replicated.licenseFields`).
public struct LicenseFieldValueBody: Codable, Sendable, Equatable {
    public struct Signature: Codable, Sendable, Equatable {
        public var v1: String
        public init(v1: String) { self.v1 = v1 }
    }

    public var name: String
    public var title: String
    public var description: String
    public var value: JSONScalar
    public var valueType: String
    public var signature: Signature
    public var isHidden: Bool?

    public init(name: String, title: String, description: String, value: JSONScalar, valueType: String, signature: Signature, isHidden: Bool?) {
        self.name = name
        self.title = title
        self.description = description
        self.value = value
        self.valueType = valueType
        self.signature = signature
        self.isHidden = isHidden
    }
}

/// `GET /sdk/v1/license`: the customer's license as it stands now.
public struct SDKLicenseBody: Codable, Sendable, Equatable {
    /// The signed license document.
    public var document: String
    /// `active`, `expired` or `archived`.
    public var status: String
    public var expiresAt: Date?
    public var licenseType: String
    public var customerID: String
    public var customerName: String
    public var customerEmail: String?
    public var appSlug: String
    public var appName: String
    public var channelID: String?
    public var channelName: String
    public var fields: [String: LicenseFieldValueBody]

    public init(document: String, status: String, expiresAt: Date?, licenseType: String, customerID: String, customerName: String,
                customerEmail: String?, appSlug: String, appName: String, channelID: String?, channelName: String,
                fields: [String: LicenseFieldValueBody]) {
        self.document = document
        self.status = status
        self.expiresAt = expiresAt
        self.licenseType = licenseType
        self.customerID = customerID
        self.customerName = customerName
        self.customerEmail = customerEmail
        self.appSlug = appSlug
        self.appName = appName
        self.channelID = channelID
        self.channelName = channelName
        self.fields = fields
    }
}

/// A release as placed on a channel.
public struct ChannelReleaseBody: Codable, Sendable, Equatable {
    public var versionLabel: String
    public var releaseSequence: Int
    public var channelSequence: Int
    public var createdAt: Date
    public var releaseNotes: String

    public init(versionLabel: String, releaseSequence: Int, channelSequence: Int, createdAt: Date, releaseNotes: String) {
        self.versionLabel = versionLabel
        self.releaseSequence = releaseSequence
        self.channelSequence = channelSequence
        self.createdAt = createdAt
        self.releaseNotes = releaseNotes
    }
}

/// `GET /sdk/v1/updates`: releases promoted to the license's channel after the one running, newest first.
public struct SDKUpdatesBody: Codable, Sendable, Equatable {
    public var channelReleases: [ChannelReleaseBody]
    public init(channelReleases: [ChannelReleaseBody]) { self.channelReleases = channelReleases }
}

/// `POST /sdk/v1/instances`: one check-in of an instance.
/// What an instance report may carry, said once: Portcullis refuses a report against these rules,
/// and the SDK refuses what the application sets against the same rules, so a value no report
/// could carry is refused when it is set, not at every check-in after.
public enum InstanceReportRules {
    /// Instance IDs, metric names and tag names: 1 to 128 characters, no control characters,
    /// no `/` (a metric is removed by its name in a URL path).
    public static func problem(name: String, what: String) -> String? {
        guard (1...128).contains(name.count) else { return "\(what) must be 1 to 128 characters" }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "/" }) else {
            return "\(what) \(name.debugDescription) holds a control character or a /"
        }
        return nil
    }

    /// Metric and tag values: no NUL (no database keeps one), at most 4096 characters.
    public static func problem(value: String, what: String) -> String? {
        guard value.count <= 4096 else { return "\(what) is longer than 4096 characters" }
        guard !value.unicodeScalars.contains("\0") else { return "\(what) holds a NUL character" }
        return nil
    }

    /// Metrics, or tags, one report may carry.
    public static let mostEntries = 100

    /// What the cluster says of itself (status, versions, distribution, IDs): at most 256
    /// characters, no control characters and none that turn text around (shown in the vendor's
    /// pages, `\u{202E}gnirts` would read as "string").
    public static func problem(label: String, what: String) -> String? {
        guard label.count <= 256 else { return "\(what) is longer than 256 characters" }
        guard !DisplayedText.hasControlOrDirectionCharacters(label) else { return "\(what) holds a control or text-direction character" }
        return nil
    }

    /// The first problem of a report's instance ID, labels, metrics or tags.
    public static func problem(of report: InstanceReport) -> String? {
        if let problem = problem(name: report.instanceID, what: "instanceID") { return problem }
        let labels: [(String?, String)] = [(report.clusterID, "clusterID"), (report.appStatus, "appStatus"), (report.versionLabel, "versionLabel"),
                                           (report.channelID, "channelID"), (report.k8sVersion, "k8sVersion"),
                                           (report.k8sDistribution, "k8sDistribution"), (report.appSlug, "appSlug")]
        for case let (label?, what) in labels {
            if let problem = problem(label: label, what: what) { return problem }
        }
        return problem(metrics: report.customMetrics ?? [:]) ?? problem(tags: report.tags ?? [:])
    }

    /// The first problem of custom metrics: their number, their names, and their values that are text.
    public static func problem(metrics: [String: JSONScalar]) -> String? {
        guard metrics.count <= mostEntries else { return "more than \(mostEntries) custom metrics" }
        for (name, value) in metrics {
            if let problem = problem(name: name, what: "metric name") { return problem }
            if case .string(let text) = value, let problem = problem(value: text, what: "metric \(name)") { return problem }
        }
        return nil
    }

    /// The first problem of instance tags: their names and values.
    public static func problem(tags: [String: String]) -> String? {
        guard tags.count <= mostEntries else { return "more than \(mostEntries) tags" }
        for (name, value) in tags {
            if let problem = problem(name: name, what: "tag name") ?? problem(value: value, what: "tag \(name)") { return problem }
        }
        return nil
    }
}

public struct InstanceReport: Codable, Sendable, Equatable {
    public var instanceID: String
    /// The app the SDK believes it belongs to; refused when it is not the license's.
    public var appSlug: String?
    public var clusterID: String?
    public var appStatus: String?
    public var versionLabel: String?
    public var releaseSequence: Int?
    public var channelSequence: Int?
    public var channelID: String?
    public var k8sVersion: String?
    public var k8sDistribution: String?
    public var customMetrics: [String: JSONScalar]?
    public var tags: [String: String]?

    public init(instanceID: String, appSlug: String?, clusterID: String? = nil, appStatus: String? = nil, versionLabel: String? = nil,
                releaseSequence: Int? = nil, channelSequence: Int? = nil, channelID: String? = nil, k8sVersion: String? = nil,
                k8sDistribution: String? = nil, customMetrics: [String: JSONScalar]? = nil, tags: [String: String]? = nil) {
        self.instanceID = instanceID
        self.appSlug = appSlug
        self.clusterID = clusterID
        self.appStatus = appStatus
        self.versionLabel = versionLabel
        self.releaseSequence = releaseSequence
        self.channelSequence = channelSequence
        self.channelID = channelID
        self.k8sVersion = k8sVersion
        self.k8sDistribution = k8sDistribution
        self.customMetrics = customMetrics
        self.tags = tags
    }
}

/// `GET /api/v1/customers/{id}/instances`: what the vendor sees of an instance.
public struct InstanceBody: Codable, Sendable, Equatable {
    public var instanceID: String
    public var customerID: String
    public var app: String
    public var clusterID: String?
    public var firstSeenAt: Date
    public var lastCheckinAt: Date
    public var versionLabel: String?
    public var releaseSequence: Int?
    public var channelSequence: Int?
    /// Promotions on the customer's channel after the release it runs.
    public var versionsBehind: Int?
    public var appStatus: String?
    public var k8sVersion: String?
    public var k8sDistribution: String?
    public var customMetrics: [String: JSONScalar]
    public var tags: [String: String]
    /// False once it has not checked in for `--instance-inactive-after`.
    public var active: Bool

    public init(instanceID: String, customerID: String, app: String, clusterID: String?, firstSeenAt: Date, lastCheckinAt: Date,
                versionLabel: String?, releaseSequence: Int?, channelSequence: Int?, versionsBehind: Int?, appStatus: String?,
                k8sVersion: String?, k8sDistribution: String?, customMetrics: [String: JSONScalar], tags: [String: String], active: Bool) {
        self.instanceID = instanceID
        self.customerID = customerID
        self.app = app
        self.clusterID = clusterID
        self.firstSeenAt = firstSeenAt
        self.lastCheckinAt = lastCheckinAt
        self.versionLabel = versionLabel
        self.releaseSequence = releaseSequence
        self.channelSequence = channelSequence
        self.versionsBehind = versionsBehind
        self.appStatus = appStatus
        self.k8sVersion = k8sVersion
        self.k8sDistribution = k8sDistribution
        self.customMetrics = customMetrics
        self.tags = tags
        self.active = active
    }
}

/// What the in-cluster SDK calls on Portcullis, authenticated with the license
/// (`Authorization: Basic`, password the license ID).
public enum SDKAPI {
    public static let prefix = "/sdk/v1"
    public static let license = Endpoint<Nothing, SDKLicenseBody>(.GET, "/license", "The license as it stands, signed, with its fields")
    public static let updates = Endpoint<Nothing, SDKUpdatesBody>(.GET, "/updates",
                                                                  "Releases on the license's channel after ?channelSequence=N")
    public static let instances = Endpoint<InstanceReport, Nothing>(.POST, "/instances", status: 204, bodyLimit: 1 << 20,
                                                                    "An instance's check-in")
}
