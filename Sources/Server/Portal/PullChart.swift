import Foundation
import Storage

/// Pulls per day as an SVG bar chart: bytes delivered (bars) and refused requests (marks),
/// drawn on the server so the page needs no script.
enum PullChart {
    static func svg(_ records: [PullRecord], days: Int = 14, now: Date = Date()) -> String {
        let dayLength: TimeInterval = 86_400
        let today = floor(now.timeIntervalSince1970 / dayLength)
        var bytes = Array(repeating: Int64(0), count: days), refused = Array(repeating: 0, count: days)
        for record in records {
            let index = days - 1 - Int(today - floor(record.at.timeIntervalSince1970 / dayLength))
            guard (0..<days).contains(index) else { continue }
            if record.status >= 400 { refused[index] += 1 } else { bytes[index] += record.bytes }
        }
        let width = 40 * days + 60, height = 180, top = 20, base = 140
        let peak = max(bytes.max() ?? 0, 1)
        let blue = "#3f6fd8", red = "#b3261e", ink = "#1d2330"
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(width) \(height)\" "
            + "width=\"\(width)\" height=\"\(height)\">"
        out += "<title>Bytes pulled per day, and refused requests, over the last \(days) days</title>"
        out += "<text x=\"4\" y=\"14\" font-size=\"11\">peak \(formatBytes(peak))/day</text>"
        for i in 0..<days {
            let x = 50 + i * 40
            let h = Int(Double(base - top) * Double(bytes[i]) / Double(peak))
            out += "<rect x=\"\(x)\" y=\"\(base - h)\" width=\"28\" height=\"\(h)\" fill=\"\(blue)\"><title>\(formatBytes(bytes[i]))</title></rect>"
            if refused[i] > 0 {
                out += "<text x=\"\(x + 14)\" y=\"\(base - h - 4)\" font-size=\"11\" text-anchor=\"middle\" fill=\"\(red)\">✕\(refused[i])</text>"
            }
            let date = Date(timeIntervalSince1970: (today - Double(days - 1 - i)) * dayLength)
            out += "<text x=\"\(x + 14)\" y=\"\(base + 16)\" font-size=\"10\" text-anchor=\"middle\">\(label(date))</text>"
        }
        out += "<line x1=\"46\" y1=\"\(base)\" x2=\"\(width - 6)\" y2=\"\(base)\" stroke=\"\(ink)\"/></svg>"
        return out
    }

    static func label(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "MM-dd"
        return f.string(from: date)
    }

    static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(n), unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}
