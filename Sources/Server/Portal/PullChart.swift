import Foundation
import PortcullisAPI

/// A pull summary's days as an SVG bar chart: bytes delivered (bars) and refused requests (marks),
/// drawn on the server so the page needs no script.
enum PullChart {
    static func svg(_ summary: PullSummaryBody) -> String {
        let days = summary.days.count
        let bytes = summary.days.map(\.bytes), refused = summary.days.map(\.refused)
        // Room on the left for the y axis's labels, below for the days and the legend.
        let left = 78, width = 40 * days + left + 16, height = 232, top = 24, base = 164
        let peak = max(bytes.max() ?? 0, 1)
        let blue = "#3f6fd8", red = "#b3261e", ink = "#1d2330", grid = "#dde1e7"
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(width) \(height)\" "
            + "width=\"\(width)\" height=\"\(height)\" font-family=\"system-ui, sans-serif\">"
        out += "<title>Bytes pulled per day, and refused requests, over the last \(days) days</title>"
        // The y axis: bytes a day, with the peak, half of it and zero marked.
        for fraction in [0.0, 0.5, 1.0] {
            let y = base - Int(Double(base - top) * fraction)
            out += "<line x1=\"\(left - 4)\" y1=\"\(y)\" x2=\"\(width - 8)\" y2=\"\(y)\" stroke=\"\(fraction == 0 ? ink : grid)\"/>"
            out += "<text x=\"\(left - 8)\" y=\"\(y + 4)\" font-size=\"10\" text-anchor=\"end\">"
                + "\(formatBytes(Int64(Double(peak) * fraction)))</text>"
        }
        out += "<text transform=\"translate(12 \((top + base) / 2)) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\">bytes pulled a day</text>"
        out += "<line x1=\"\(left - 4)\" y1=\"\(top)\" x2=\"\(left - 4)\" y2=\"\(base)\" stroke=\"\(ink)\"/>"
        for i in 0..<days {
            let x = left + 6 + i * 40
            let h = Int(Double(base - top) * Double(bytes[i]) / Double(peak))
            out += "<rect x=\"\(x)\" y=\"\(base - h)\" width=\"28\" height=\"\(h)\" fill=\"\(blue)\"><title>\(formatBytes(bytes[i]))</title></rect>"
            if refused[i] > 0 {
                out += "<text x=\"\(x + 14)\" y=\"\(base - h - 4)\" font-size=\"11\" text-anchor=\"middle\" fill=\"\(red)\">✕\(refused[i])</text>"
            }
            out += "<text x=\"\(x + 14)\" y=\"\(base + 14)\" font-size=\"10\" text-anchor=\"middle\">\(summary.days[i].date.suffix(5))</text>"
        }
        out += "<text x=\"\(left + (width - left) / 2)\" y=\"\(base + 30)\" font-size=\"11\" text-anchor=\"middle\">day (UTC, month-day)</text>"
        // The legend: what the bars and the marks are.
        let legend = base + 50
        out += "<rect x=\"\(left)\" y=\"\(legend - 9)\" width=\"10\" height=\"10\" fill=\"\(blue)\"/>"
        out += "<text x=\"\(left + 14)\" y=\"\(legend)\" font-size=\"11\">bytes pulled</text>"
        out += "<text x=\"\(left + 110)\" y=\"\(legend)\" font-size=\"11\" fill=\"\(red)\">✕N</text>"
        out += "<text x=\"\(left + 130)\" y=\"\(legend)\" font-size=\"11\">N requests refused that day</text>"
        out += "</svg>"
        return out
    }

    static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(n), unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}
