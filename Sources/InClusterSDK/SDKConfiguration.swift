import Foundation
import PortcullisAPI
import Yams
import YAMLSafety

/// What the SDK is told at install: the subchart's `config.yaml`, written from the values the
/// registry injected into the customer's chart (and what the customer set).
public struct SDKConfiguration: Sendable {
    public var licenseID: String
    /// The signed license document.
    public var license: String
    public var licenseFields: [String: LicenseFieldValueBody]
    /// The app's PEM public key: what license and field signatures are checked with.
    public var publicKey: String
    public var appName: String
    public var appSlug: String
    public var channelID: String
    public var channelName: String
    public var channelSequence: Int
    public var releaseSequence: Int
    public var versionLabel: String
    public var releaseCreatedAt: Date?
    public var releaseNotes: String
    public var parentChartURL: String
    /// Where Portcullis is: `https://HOST`.
    public var endpoint: String
    public var releaseImages: [String]
    /// No outbound connection at all.
    public var isAirgap: Bool
    public var reportInterval: TimeInterval
    /// A fixed instance ID, when the customer pins one.
    public var instanceID: String?

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func parse(_ text: String) throws(Invalid) -> SDKConfiguration {
        let root: [String: Any]
        do {
            guard let node = try YAMLBudget.compose(text), let mapping = Constructor.default.any(from: node) as? [String: Any] else {
                throw Invalid(description: "the configuration is not a YAML mapping")
            }
            root = mapping
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(description: "the configuration is not valid YAML: \(error)")
        }
        func string(_ key: String) -> String {
            switch root[key] {
            case let s as String: s
            case let i as Int: String(i)
            case let d as Date: ISO8601DateFormatter().string(from: d)
            default: ""
            }
        }
        func integer(_ key: String) -> Int { (root[key] as? Int) ?? Int(string(key)) ?? -1 }
        var fields: [String: LicenseFieldValueBody] = [:]
        for (name, raw) in root["licenseFields"] as? [String: Any] ?? [:] {
            guard let field = raw as? [String: Any] else { continue }
            fields[name] = LicenseFieldValueBody(
                name: field["name"] as? String ?? name, title: field["title"] as? String ?? name,
                description: field["description"] as? String ?? "", value: Self.scalar(field["value"]),
                valueType: field["valueType"] as? String ?? "String",
                signature: .init(v1: (field["signature"] as? [String: Any])?["v1"] as? String ?? ""),
                isHidden: field["isHidden"] as? Bool)
        }
        let interval = string("reportInterval")
        guard let reportInterval = interval.isEmpty ? 4 * 3600 : Self.duration(interval) else {
            throw Invalid(description: "reportInterval \(interval.debugDescription) is not a duration such as 30s, 15m or 4h")
        }
        let configuration = SDKConfiguration(
            licenseID: string("licenseID"), license: string("license"), licenseFields: fields, publicKey: string("publicKey"),
            appName: string("appName"), appSlug: string("appSlug"), channelID: string("channelID"), channelName: string("channelName"),
            channelSequence: integer("channelSequence"), releaseSequence: integer("releaseSequence"), versionLabel: string("versionLabel"),
            releaseCreatedAt: ISO8601DateFormatter().date(from: string("releaseCreatedAt")), releaseNotes: string("releaseNotes"),
            parentChartURL: string("parentChartURL"), endpoint: string("portcullisEndpoint"),
            releaseImages: (root["releaseImages"] as? [Any] ?? []).compactMap { $0 as? String },
            isAirgap: root["isAirgap"] as? Bool ?? (string("isAirgap") == "true"), reportInterval: reportInterval,
            instanceID: string("instanceID").isEmpty ? nil : string("instanceID"))
        guard !configuration.license.isEmpty else {
            throw Invalid(description: "the configuration has no license: was the chart pulled from Portcullis with a license?")
        }
        guard !configuration.publicKey.isEmpty else { throw Invalid(description: "the configuration has no publicKey") }
        // What would make every check-in fail is refused at start, where someone reads it.
        if let instanceID = configuration.instanceID, let problem = InstanceReportRules.problem(name: instanceID, what: "instanceID") {
            throw Invalid(description: problem)
        }
        if !configuration.isAirgap {
            guard !configuration.licenseID.isEmpty else {
                throw Invalid(description: "the configuration has no licenseID: was the chart pulled from Portcullis with a license?")
            }
            guard !configuration.endpoint.isEmpty else {
                throw Invalid(description: "the configuration has no portcullisEndpoint; set isAirgap: true to run without one")
            }
        }
        return configuration
    }

    static func scalar(_ value: Any?) -> JSONScalar {
        switch value {
        case let b as Bool: .boolean(b)
        case let i as Int: .integer(i)
        case let d as Double: .number(d)
        case let s as String: .string(s)
        case let date as Date: .string(ISO8601DateFormatter().string(from: date))
        default: .string("")
        }
    }

    /// `90s`, `15m`, `4h`, `1d`.
    public static func duration(_ text: String) -> TimeInterval? {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let number = Double(text.dropLast()), number > 0,
              number * unit <= DurationLimit.longest else { return nil }
        return number * unit
    }
}
