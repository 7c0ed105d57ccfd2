import Foundation
import Yams

/// A Helm chart archive (`.tgz`), validated: one top-level directory named like the chart,
/// a `Chart.yaml` with a name and a SemVer version, and no path escaping the chart.
public struct ChartPackage: Sendable {
    public let name: String
    public let version: String
    public let appVersion: String?
    /// Chart.yaml as JSON, the Helm OCI config blob.
    public let configJSON: [UInt8]
    public private(set) var entries: [TarEntry]

    public static let maxArchiveSize = 20 << 20
    public static let maxExpandedSize = 100 << 20

    public static func parse(archive: [UInt8]) throws(ChartError) -> ChartPackage {
        guard archive.count <= maxArchiveSize else { throw ChartError("chart archive is larger than \(maxArchiveSize) bytes") }
        let tar = try Gzip.decompress(archive, limit: maxExpandedSize)
        let entries: [TarEntry]
        do { entries = try Tar.read(tar) } catch { throw ChartError("not a tar archive: \(error)") }
        guard !entries.isEmpty else { throw ChartError("chart archive is empty") }
        var top: String?
        for entry in entries {
            let parts = entry.path.split(separator: "/", omittingEmptySubsequences: true)
            guard !entry.path.hasPrefix("/"), !parts.contains(".."), let first = parts.first else {
                throw ChartError("chart archive has an unsafe path \(entry.path.debugDescription)")
            }
            if top == nil { top = String(first) }
            guard top == String(first) else { throw ChartError("a chart archive holds exactly one top-level directory") }
        }
        guard let dir = top, let chartFile = entries.first(where: { $0.path == dir + "/Chart.yaml" && $0.kind == .file }) else {
            throw ChartError("not a Helm chart: no Chart.yaml in the archive's top-level directory")
        }
        let loaded: Any?
        do { loaded = try SafeYAML.load(String(decoding: chartFile.contents, as: UTF8.self)) } catch { throw ChartError("Chart.yaml: \(error)") }
        guard let metadata = loaded as? [String: Any] else { throw ChartError("Chart.yaml is not a mapping") }
        guard let name = metadata["name"] as? String, !name.isEmpty else { throw ChartError("Chart.yaml has no name") }
        // The name goes into commands customers paste (`helm install <name> oci://…`): a name
        // Helm would not take, or one read as a flag, is refused.
        guard !name.hasPrefix("-"), !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }) else {
            throw ChartError("chart name \(name.debugDescription) is not a Helm chart name (letters, digits, ., _ and -, not first - or .)")
        }
        guard name == dir else {
            throw ChartError("chart name \(name.debugDescription) differs from the archive's directory \(dir.debugDescription)")
        }
        guard let version = Self.scalarString(metadata["version"]), SemVer.isValidChartVersion(version) else {
            throw ChartError("Chart.yaml version must be SemVer (e.g. 1.2.3 or v1.2.3)")
        }
        guard let apiVersion = metadata["apiVersion"] as? String, ["v1", "v2"].contains(apiVersion) else {
            throw ChartError("Chart.yaml apiVersion must be v1 or v2")
        }
        let json = (try? JSONSerialization.data(withJSONObject: jsonCompatible(metadata), options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        let package = ChartPackage(name: name, version: version, appVersion: Self.scalarString(metadata["appVersion"]),
                                   configJSON: Array(json), entries: entries)
        // Read now, within the YAML budget: values that cannot be read (an alias bomb) are refused
        // when the chart arrives, not at every customer's pull.
        if let values = package.values {
            do { _ = try SafeYAML.load(values) } catch { throw ChartError("values.yaml: \(error)") }
        }
        return package
    }

    public var valuesPath: String { name + "/values.yaml" }

    /// The OCI tag this chart's version is pushed and pulled as: OCI tags allow no `+`, so Helm
    /// writes SemVer build metadata (`1.2.3+build.1`) with `_` (`1.2.3_build.1`).
    public var tag: String { Self.tag(forVersion: version) }

    public static func tag(forVersion version: String) -> String {
        version.replacingOccurrences(of: "+", with: "_")
    }

    /// The key of this chart's values that a subchart named `subchart` reads, when the chart
    /// carries it under `charts/` (a directory or an archive, under any directory name): the
    /// `alias` its dependency entry gives it (Chart.yaml, or requirements.yaml for v1 charts),
    /// else its name. Nil when the chart does not carry it.
    public func valuesKey(ofSubchart subchart: String) -> String? {
        let prefix = name + "/charts/"
        let carried = entries.contains { entry in
            guard entry.kind == .file, entry.path.hasPrefix(prefix) else { return false }
            let rest = entry.path.dropFirst(prefix.count).split(separator: "/")
            if rest.count == 2, rest[1] == "Chart.yaml" {
                return Self.chartName(yaml: entry.contents) == subchart
            }
            if rest.count == 1, rest[0].hasSuffix(".tgz") || rest[0].hasSuffix(".tar.gz") {
                return (try? ChartPackage.parse(archive: entry.contents))?.name == subchart
            }
            return false
        }
        guard carried else { return nil }
        for file in [name + "/Chart.yaml", name + "/requirements.yaml"] {
            guard let entry = entries.first(where: { $0.path == file && $0.kind == .file }),
                  let metadata = (try? SafeYAML.load(String(decoding: entry.contents, as: UTF8.self))) as? [String: Any],
                  let dependencies = metadata["dependencies"] as? [[String: Any]] else { continue }
            if let dependency = dependencies.first(where: { $0["name"] as? String == subchart }),
               let alias = dependency["alias"] as? String, !alias.isEmpty {
                return alias
            }
        }
        return subchart
    }

    private static func chartName(yaml: [UInt8]) -> String? {
        ((try? SafeYAML.load(String(decoding: yaml, as: UTF8.self))) as? [String: Any])?["name"] as? String
    }

    /// Why the chart's `values.schema.json` would refuse the values every customer is given
    /// (`global.replicated`), or nil. Helm checks values against the schema at install, lint
    /// and template, so such a chart fails for every customer. Only what the schema says
    /// outright is read: `additionalProperties` or `unevaluatedProperties` false at the top
    /// (without a `global` property) or under `global` (without a `replicated` one).
    public var schemaRefusesInjectedValues: String? {
        guard let entry = entries.first(where: { $0.path == name + "/values.schema.json" && $0.kind == .file }),
              let schema = (try? JSONSerialization.jsonObject(with: Data(entry.contents))) as? [String: Any] else { return nil }
        func closed(_ object: [String: Any]) -> Bool {
            object["additionalProperties"] as? Bool == false || object["unevaluatedProperties"] as? Bool == false
        }
        let properties = schema["properties"] as? [String: Any] ?? [:]
        let globalRefused = "values.schema.json allows no top-level `global` (additionalProperties: false), "
            + "where every customer's chart gets global.replicated; add a `global` object to its properties"
        guard let declared = properties["global"] else { return closed(schema) ? globalRefused : nil }
        // `"global": true` takes anything, `false` nothing.
        if let allowed = declared as? Bool { return allowed ? nil : globalRefused }
        guard let global = declared as? [String: Any] else { return nil }
        if closed(global), (global["properties"] as? [String: Any])?["replicated"] == nil {
            return "values.schema.json allows no `global.replicated` (additionalProperties: false under global), "
                + "which every customer's chart gets; add `\"replicated\": {\"type\": \"object\"}` to global's properties"
        }
        return nil
    }

    public var values: String? {
        entries.first { $0.path == valuesPath && $0.kind == .file }.map { String(decoding: $0.contents, as: UTF8.self) }
    }

    /// A copy with `values.yaml` replaced (or added).
    public func replacingValues(_ text: String) -> ChartPackage {
        var copy = self
        if let i = copy.entries.firstIndex(where: { $0.path == valuesPath }) {
            copy.entries[i].contents = Array(text.utf8)
        } else {
            copy.entries.append(TarEntry(path: valuesPath, contents: Array(text.utf8)))
        }
        return copy
    }

    /// The chart as a deterministic `.tgz`: same entries, same bytes.
    public func archive() throws(ChartError) -> [UInt8] {
        try Gzip.compress(Tar.write(entries))
    }

    static func scalarString(_ value: Any?) -> String? {
        switch value {
        case let s as String: s
        case let i as Int: String(i)
        case let d as Double: String(d)
        default: nil
        }
    }
}

/// YAML values as JSON-serialisable Foundation values (timestamps become strings).
func jsonCompatible(_ value: Any) -> Any {
    switch value {
    case let d as [String: Any]: return d.mapValues(jsonCompatible)
    case let a as [Any]: return a.map(jsonCompatible)
    case let date as Date: return ISO8601DateFormatter().string(from: date)
    case is String, is Int, is Double, is Bool: return value
    case let data as Data: return data.base64EncodedString()
    default: return value is NSNull ? NSNull() : String(describing: value)
    }
}
