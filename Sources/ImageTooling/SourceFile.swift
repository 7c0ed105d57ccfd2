import Charts
import Foundation
import Yams
import YAMLSafety

/// One YAML file under inspection: its path (as shown to the user) and text.
public struct SourceFile: Equatable, Sendable {
    public enum Role: Equatable, Sendable {
        /// Kubernetes manifests (possibly several documents).
        case manifests
        /// A Helm values file.
        case values
        /// A Helm template or helper: Go template text, never parsed as YAML.
        case template
        /// A chart's `Chart.yaml`.
        case chartMetadata
        /// Any other file of a chart: what templates read through `.Files`.
        case chartFile
    }

    public var path: String
    public var text: String
    public var role: Role
    /// The root of the chart this file belongs to (as shown to the user); nil outside charts.
    public var chart: String?

    public init(path: String, text: String, role: Role, chart: String? = nil) {
        self.path = path
        self.text = text
        self.role = role
        self.chart = chart
    }

    /// Whether the tooling may write this file back (nothing inside an archive can be).
    public var isEditable: Bool { !path.contains("!") }
}

/// A problem in an input file, with where it is.
public struct ToolingError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}

/// Parses every document of a file, turning YAML errors into errors with file and line.
func composeAll(_ file: SourceFile) throws(ToolingError) -> [Node] {
    do {
        return try YAMLBudget.composeAll(file.text)
    } catch let error as YAMLBudget.Exceeded {
        throw ToolingError(file: file.path, line: nil, message: error.description)
    } catch let error as YamlError {
        throw ToolingError(file: file.path, line: error.line, message: "invalid YAML: \(error.problem)")
    } catch {
        throw ToolingError(file: file.path, line: nil, message: "invalid YAML")
    }
}

/// Loads inputs: a chart directory or `.tgz` (values files and templates), a directory of
/// manifests, or single manifest files.
public enum SourceLoader {
    public static func load(_ path: String) throws(ToolingError) -> [SourceFile] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ToolingError(file: path, line: nil, message: "no such file or directory")
        }
        if isDir.boolValue {
            if FileManager.default.fileExists(atPath: path + "/Chart.yaml") { return try chartDirectory(path) }
            var files: [SourceFile] = []
            for file in try yamlFiles(under: path) { files.append(SourceFile(path: file, text: try read(file), role: .manifests)) }
            return files
        }
        if path.hasSuffix(".tgz") || path.hasSuffix(".tar.gz") { return try chartArchive(path) }
        let isValues = (path as NSString).lastPathComponent.hasPrefix("values")
        return [SourceFile(path: path, text: try read(path), role: isValues ? .values : .manifests)]
    }

    static func read(_ path: String) throws(ToolingError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ToolingError(file: path, line: nil, message: "cannot read file as UTF-8 text")
        }
        return text
    }

    static func yamlFiles(under dir: String) throws(ToolingError) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: dir) else {
            throw ToolingError(file: dir, line: nil, message: "cannot list directory")
        }
        var out: [String] = []
        while let item = walker.nextObject() as? String {
            if item.hasSuffix(".yaml") || item.hasSuffix(".yml") { out.append(dir + "/" + item) }
        }
        return out.sorted()
    }

    static func chartDirectory(_ dir: String) throws(ToolingError) -> [SourceFile] {
        guard let walker = FileManager.default.enumerator(atPath: dir) else {
            throw ToolingError(file: dir, line: nil, message: "cannot list directory")
        }
        // The chart's values are what every image is traced to: a values.yaml that is there but
        // cannot be read (a broken link, a directory) is an error, not a chart without values.
        let values = dir + "/values.yaml"
        var valuesIsDir: ObjCBool = false
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: values)) != nil || FileManager.default.fileExists(atPath: values) {
            guard FileManager.default.fileExists(atPath: values, isDirectory: &valuesIsDir), !valuesIsDir.boolValue,
                  FileManager.default.isReadableFile(atPath: values) else {
                throw ToolingError(file: values, line: nil, message: "cannot read the chart's values (a broken link, a directory, or not readable)")
            }
        }
        var entries: [ChartEntry] = []
        while let item = walker.nextObject() as? String {
            let path = dir + "/" + item
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { continue }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            // Subchart archives are read whatever their size; other files only as large as templates read.
            guard item.hasSuffix(".tgz") || size <= ChartEntry.maxFileSize else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ToolingError(file: path, line: nil, message: "cannot read file")
            }
            entries.append(ChartEntry(path: item, bytes: Array(data)))
        }
        return try chartFiles(entries.sorted { $0.path < $1.path }, root: dir) { dir + "/" + $0 }
    }

    static func chartArchive(_ path: String) throws(ToolingError) -> [SourceFile] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ToolingError(file: path, line: nil, message: "cannot read archive")
        }
        return try chartArchive(bytes: Array(data), name: path)
    }

    /// The files of a chart archive that the tooling reads; paths read `<name>!<entry>`.
    public static func chartArchive(bytes: [UInt8], name path: String) throws(ToolingError) -> [SourceFile] {
        let package: ChartPackage
        do { package = try ChartPackage.parse(archive: bytes) } catch {
            throw ToolingError(file: path, line: nil, message: error.description)
        }
        return try chartPackage(package, name: path)
    }

    /// The files of a chart already parsed; paths read `<name>!<entry>`.
    public static func chartPackage(_ package: ChartPackage, name path: String) throws(ToolingError) -> [SourceFile] {
        let top = package.entries.first { $0.kind == .file }?.path.split(separator: "/").first.map(String.init) ?? package.name
        let entries = package.entries.compactMap { entry -> ChartEntry? in
            guard entry.kind == .file, entry.path.hasPrefix(top + "/") else { return nil }
            let relative = String(entry.path.dropFirst(top.count + 1))
            return ChartEntry(path: relative, bytes: entry.contents)
        }
        return try chartFiles(entries, root: path + "!" + top) { path + "!" + top + "/" + $0 }
    }

    struct ChartEntry {
        var path: String
        var bytes: [UInt8]

        /// Files larger than this are not read (templates read config files through `.Files`, not data).
        static let maxFileSize = 4 << 20
    }

    /// One chart's files and its subcharts' (directories under `charts/` and packaged `.tgz`s).
    static func chartFiles(_ entries: [ChartEntry], root: String, display: (String) -> String) throws(ToolingError) -> [SourceFile] {
        var files: [SourceFile] = []
        var subcharts: [String: [ChartEntry]] = [:]
        for entry in entries {
            let relative = entry.path
            if relative.hasPrefix("charts/") {
                let rest = relative.dropFirst("charts/".count)
                if !rest.contains("/"), rest.hasSuffix(".tgz") {
                    files += try chartArchive(bytes: entry.bytes, name: display(relative))
                } else if let slash = rest.firstIndex(of: "/") {
                    subcharts[String(rest[..<slash]), default: []].append(ChartEntry(path: String(rest[rest.index(after: slash)...]), bytes: entry.bytes))
                }
                continue
            }
            guard !relative.hasSuffix(".tgz") else { continue }
            let text = String(decoding: entry.bytes, as: UTF8.self)
            let name = (relative as NSString).lastPathComponent
            let yaml = relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") || relative.hasSuffix(".tpl") || relative.hasSuffix(".txt")
            if relative == "Chart.yaml" {
                files.append(SourceFile(path: display(relative), text: text, role: .chartMetadata, chart: root))
            } else if relative.hasPrefix("templates/") {
                if yaml { files.append(SourceFile(path: display(relative), text: text, role: .template, chart: root)) }
            } else if !relative.contains("/"), name.hasPrefix("values"), yaml {
                files.append(SourceFile(path: display(relative), text: text, role: .values, chart: root))
            }
            // Helm's `.Files`: everything but templates, Chart.yaml, values.yaml and the lock files.
            if !relative.hasPrefix("templates/"), !["Chart.yaml", "values.yaml", "values.schema.json", "Chart.lock", "requirements.yaml",
                                                       "requirements.lock"].contains(relative), entry.bytes.count <= ChartEntry.maxFileSize {
                files.append(SourceFile(path: display(relative), text: text, role: .chartFile, chart: root))
            }
        }
        for (name, sub) in subcharts.sorted(by: { $0.key < $1.key }) where sub.contains(where: { $0.path == "Chart.yaml" }) {
            files += try chartFiles(sub, root: display("charts/" + name)) { display("charts/" + name + "/" + $0) }
        }
        return files
    }
}
