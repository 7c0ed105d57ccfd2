import Foundation
import Logging
import Synchronization

/// `--log-format json`: one JSON object per line on standard error, with stable field names
/// (`ts`, `level`, `label`, `msg`, `source`, then the metadata's own keys), so log pipelines
/// can index them without parsing text.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let label: String
    private static let output = Mutex<FileHandle>(FileHandle.standardError)

    /// `metadataProvider` adds context to every line (the trace and span ids when tracing).
    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = Self.line(at: Date(), level: event.level, label: label, message: event.message.description, source: event.source,
                             metadata: (metadataProvider?.get() ?? [:]).merging(metadata) { $1 }.merging(event.metadata ?? [:]) { $1 })
        Self.output.withLock { $0.write(Data(line.utf8)) }
    }

    static let reserved: Set<String> = ["ts", "level", "label", "msg", "source"]

    /// The line for one event, newline included.
    static func line(at date: Date, level: Logger.Level, label: String, message: String, source: String, metadata: Logger.Metadata) -> String {
        var object: [String: Any] = ["ts": timestamp(date), "level": level.rawValue, "label": label, "msg": message, "source": source]
        for (key, value) in metadata {
            // Metadata never overwrites the fixed fields.
            object[reserved.contains(key) ? "meta_" + key : key] = render(value)
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func render(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let items): items.map(render)
        case .dictionary(let d): d.mapValues(render)
        }
    }

    /// A value-type format style: nothing is allocated per log line.
    private static let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func timestamp(_ date: Date) -> String { date.formatted(iso8601) }
}
