import Foundation
import PortcullisAPI

/// Something a listing shows as one table row.
protocol TableRow: Encodable {
    static var headers: [String] { get }
    var cells: [String] { get }
}

/// Renders API results as an aligned table or as JSON.
enum Output {
    static func print<Row: TableRow>(_ rows: [Row], format: OutputFormat) {
        switch format {
        case .json: json(rows)
        case .table: table(headers: Row.headers, rows: rows.map(\.cells))
        }
    }

    /// One object: a JSON object, or a one-row table.
    static func print<Row: TableRow>(_ row: Row, format: OutputFormat) {
        switch format {
        case .json: json(row)
        case .table: table(headers: Row.headers, rows: [row.cells])
        }
    }

    /// A warning on standard error, so it never mixes into output meant for other programs.
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    static func json(_ value: some Encodable) {
        let encoder = APICoding.encoder
        encoder.outputFormatting.insert(.prettyPrinted)
        guard let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) else { return }
        Swift.print(text)
    }

    static func table(headers: [String], rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ values: [String]) -> String {
            values.enumerated().map { i, v in i == values.count - 1 ? v : v.padding(toLength: widths[i] + 4, withPad: " ", startingAt: 0) }
                .joined().trimmingCharacters(in: .whitespaces)
        }
        Swift.print(line(headers))
        for row in rows { Swift.print(line(row)) }
    }
}

/// How values appear in table cells.
enum Cell {
    static func date(_ date: Date?) -> String {
        date.map { ISO8601DateFormatter().string(from: $0) } ?? ""
    }

    static func list(_ items: [String]) -> String { items.joined(separator: ",") }
}
