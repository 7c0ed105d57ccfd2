import Foundation

/// A customer's registry requests over recent days: per day, per image, and why requests were refused.
public struct PullSummaryBody: Codable, Sendable, Equatable {
    public struct Day: Codable, Sendable, Equatable {
        /// `yyyy-MM-dd`, UTC.
        public var date: String
        public var requests: Int
        public var bytes: Int64
        public var refused: Int
    }

    public struct Image: Codable, Sendable, Equatable {
        public var repository: String
        public var requests: Int
        public var bytes: Int64
        public var refused: Int
        public var lastAt: Date
    }

    public struct Refusal: Codable, Sendable, Equatable {
        public var reason: String
        public var count: Int
    }

    public var days: [Day]
    /// Most bytes first.
    public var images: [Image]
    /// Most frequent first.
    public var refusals: [Refusal]

    /// Summarizes `records` over the `days` days up to `now` (older records are left out).
    public init(summarizing records: [PullBody], days: Int, now: Date = Date()) {
        let dayLength: TimeInterval = 86_400
        let today = floor(now.timeIntervalSince1970 / dayLength)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        var perDay = (0..<days).map { i in
            Day(date: formatter.string(from: Date(timeIntervalSince1970: (today - Double(days - 1 - i)) * dayLength)),
                requests: 0, bytes: 0, refused: 0)
        }
        var perImage: [String: Image] = [:]
        var reasons: [String: Int] = [:]
        for record in records {
            let index = days - 1 - Int(today - floor(record.at.timeIntervalSince1970 / dayLength))
            guard (0..<days).contains(index) else { continue }
            let refused = record.status >= 400
            perDay[index].requests += 1
            perDay[index].bytes += refused ? 0 : record.bytes
            perDay[index].refused += refused ? 1 : 0
            var image = perImage[record.repository] ?? Image(repository: record.repository, requests: 0, bytes: 0, refused: 0, lastAt: record.at)
            image.requests += 1
            image.bytes += refused ? 0 : record.bytes
            image.refused += refused ? 1 : 0
            image.lastAt = max(image.lastAt, record.at)
            perImage[record.repository] = image
            if refused { reasons[record.reason ?? "HTTP \(record.status)", default: 0] += 1 }
        }
        self.days = perDay
        images = perImage.values.sorted { ($0.bytes, $0.requests, $0.repository) > ($1.bytes, $1.requests, $1.repository) }
        refusals = reasons.map { Refusal(reason: $0.key, count: $0.value) }.sorted { ($0.count, $1.reason) > ($1.count, $0.reason) }
    }
}
