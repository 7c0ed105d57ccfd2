import Foundation

/// Renders API results as an aligned table or as JSON.
enum Output {
    static func print(_ value: Any?, format: OutputFormat, columns: [(header: String, key: String)]) {
        switch format {
        case .json:
            json(value)
        case .table:
            let rows: [[String: Any]] = (value as? [[String: Any]]) ?? ((value as? [String: Any]).map { [$0] } ?? [])
            table(rows, columns: columns)
        }
    }

    static func json(_ value: Any?) {
        guard let value, let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8) else { return }
        Swift.print(text)
    }

    static func table(_ rows: [[String: Any]], columns: [(header: String, key: String)]) {
        let cells = rows.map { row in columns.map { cell(row[$0.key]) } }
        var widths = columns.map(\.header.count)
        for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ values: [String]) -> String {
            values.enumerated().map { i, v in i == values.count - 1 ? v : v.padding(toLength: widths[i] + 4, withPad: " ", startingAt: 0) }
                .joined().trimmingCharacters(in: .whitespaces)
        }
        Swift.print(line(columns.map(\.header)))
        for row in cells { Swift.print(line(row)) }
    }

    static func cell(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: ""
        case let list as [Any]: list.map { cell($0) }.joined(separator: ",")
        // JSON numbers arrive as NSNumber, which also casts to Bool; only a boolean's type code is "c".
        case let n as NSNumber where String(cString: n.objCType) == "c": n.boolValue ? "true" : "false"
        case let n as NSNumber: n.stringValue
        case let b as Bool: b ? "true" : "false"
        case let s as String: s
        default: "\(value!)"
        }
    }
}
