import Foundation
import PortcullisAPI

/// A pull summary's days as an SVG bar chart: bytes delivered (bars) and refused requests (marks),
/// drawn on the server so the page needs no script.
enum PullChart {
    static func svg(_ summary: PullSummaryBody) -> String {
        let days = summary.days.count
        let bytes = summary.days.map(\.bytes), refused = summary.days.map(\.refused)
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
            out += "<text x=\"\(x + 14)\" y=\"\(base + 16)\" font-size=\"10\" text-anchor=\"middle\">\(summary.days[i].date.suffix(5))</text>"
        }
        out += "<line x1=\"46\" y1=\"\(base)\" x2=\"\(width - 6)\" y2=\"\(base)\" stroke=\"\(ink)\"/></svg>"
        return out
    }

    static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(n), unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}
