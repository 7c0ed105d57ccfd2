import Charts
import Foundation
import Yams

/// One YAML file under inspection: its path (as shown to the user) and text.
public struct SourceFile: Equatable, Sendable {
    public enum Role: Equatable, Sendable {
        /// Kubernetes manifests (possibly several documents).
        case manifests
        /// A Helm values file.
        case values
        /// A Helm template: Go template text, scanned as text, never parsed as YAML.
        case template
    }

    public var path: String
    public var text: String
    public var role: Role

    public init(path: String, text: String, role: Role) {
        self.path = path
        self.text = text
        self.role = role
    }
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
        // The sequence keeps a parse error to itself and just ends; it must be asked.
        var documents = try Yams.compose_all(yaml: file.text)
        var nodes: [Node] = []
        while let node = documents.next() { nodes.append(node) }
        if let error = documents.error { throw error }
        return nodes
    } catch let error as YamlError {
        throw ToolingError(file: file.path, line: error.line, message: "invalid YAML: \(error.problem)")
    } catch {
        throw ToolingError(file: file.path, line: nil, message: "invalid YAML")
    }
}

extension YamlError {
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    var problem: String {
        switch self {
        case .scanner(_, let p, _, _), .parser(_, let p, _, _), .composer(_, let p, _, _): p
        default: String(describing: self)
        }
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
        var files: [SourceFile] = []
        for path in try yamlFiles(under: dir) {
            let relative = String(path.dropFirst(dir.count + 1))
            if let role = role(ofChartPath: relative) { files.append(SourceFile(path: path, text: try read(path), role: role)) }
        }
        return files
    }

    static func chartArchive(_ path: String) throws(ToolingError) -> [SourceFile] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ToolingError(file: path, line: nil, message: "cannot read archive")
        }
        return try chartArchive(bytes: Array(data), name: path)
    }

    /// The values files and templates of a chart archive; paths read `<name>!<entry>`.
    public static func chartArchive(bytes: [UInt8], name path: String) throws(ToolingError) -> [SourceFile] {
        let package: ChartPackage
        do { package = try ChartPackage.parse(archive: bytes) } catch {
            throw ToolingError(file: path, line: nil, message: error.description)
        }
        return package.entries.compactMap { entry in
            guard entry.kind == .file, entry.path.hasSuffix(".yaml") || entry.path.hasSuffix(".yml") else { return nil }
            let relative = entry.path.split(separator: "/", maxSplits: 1).dropFirst().first.map(String.init) ?? entry.path
            return role(ofChartPath: relative).map {
                SourceFile(path: path + "!" + entry.path, text: String(decoding: entry.contents, as: UTF8.self), role: $0)
            }
        }
    }

    /// Values files and templates of a chart's own directory (subcharts are charts of their own).
    static func role(ofChartPath relative: String) -> SourceFile.Role? {
        if relative.hasPrefix("charts/") { return nil }
        if relative.hasPrefix("templates/") { return .template }
        let name = (relative as NSString).lastPathComponent
        if !relative.contains("/"), name.hasPrefix("values") { return .values }
        return nil
    }
}
