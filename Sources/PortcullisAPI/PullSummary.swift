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

    /// Requests, bytes delivered and refusals, for a customer or for unattributed traffic.
    public struct Traffic: Codable, Sendable, Equatable {
        public var requests: Int
        public var bytes: Int64
        public var refused: Int

        public init(requests: Int = 0, bytes: Int64 = 0, refused: Int = 0) {
            self.requests = requests
            self.bytes = bytes
            self.refused = refused
        }
    }

    public struct CustomerTraffic: Codable, Sendable, Equatable {
        public var customerId: String
        public var requests: Int
        public var bytes: Int64
        public var refused: Int
    }

    /// Requests counted together: one day, one customer (nil: the vendor's own or anonymous
    /// traffic), one repository, one refusal reason (nil: served).
    public struct Count: Sendable, Equatable {
        public var day: Date
        public var customerID: String?
        public var repository: String
        public var reason: String?
        public var requests: Int
        public var refused: Int
        public var bytes: Int64
        public var lastAt: Date

        public init(day: Date, customerID: String?, repository: String, reason: String?, requests: Int, refused: Int, bytes: Int64, lastAt: Date) {
            self.day = day
            self.customerID = customerID
            self.repository = repository
            self.reason = reason
            self.requests = requests
            self.refused = refused
            self.bytes = bytes
            self.lastAt = lastAt
        }
    }

    public var days: [Day]
    /// Most bytes first.
    public var images: [Image]
    /// Most frequent first.
    public var refusals: [Refusal]
    /// Per customer, most bytes first: only in the summary of all traffic.
    public var customers: [CustomerTraffic]?
    /// Pulls by the vendor's own tokens and anonymous pulls: only in the summary of all traffic.
    public var unattributed: Traffic?

    /// Summarizes counts over the `days` days up to `now`; `byCustomer` adds the per-customer
    /// and unattributed totals.
    public init(counting counts: [Count], days: Int, now: Date = Date(), byCustomer: Bool) {
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
        var perCustomer: [String: CustomerTraffic] = [:]
        var unattributed = Traffic()
        for count in counts {
            let index = days - 1 - Int(today - floor(count.day.timeIntervalSince1970 / dayLength))
            guard (0..<days).contains(index) else { continue }
            perDay[index].requests += count.requests
            perDay[index].bytes += count.bytes
            perDay[index].refused += count.refused
            var image = perImage[count.repository] ?? Image(repository: count.repository, requests: 0, bytes: 0, refused: 0, lastAt: count.lastAt)
            image.requests += count.requests
            image.bytes += count.bytes
            image.refused += count.refused
            image.lastAt = max(image.lastAt, count.lastAt)
            perImage[count.repository] = image
            if let reason = count.reason, count.refused > 0 { reasons[reason, default: 0] += count.refused }
            if let customer = count.customerID {
                var traffic = perCustomer[customer] ?? CustomerTraffic(customerId: customer, requests: 0, bytes: 0, refused: 0)
                traffic.requests += count.requests
                traffic.bytes += count.bytes
                traffic.refused += count.refused
                perCustomer[customer] = traffic
            } else {
                unattributed.requests += count.requests
                unattributed.bytes += count.bytes
                unattributed.refused += count.refused
            }
        }
        self.days = perDay
        images = perImage.values.sorted { ($0.bytes, $0.requests, $0.repository) > ($1.bytes, $1.requests, $1.repository) }
        refusals = reasons.map { Refusal(reason: $0.key, count: $0.value) }.sorted { ($0.count, $1.reason) > ($1.count, $0.reason) }
        customers = byCustomer
            ? perCustomer.values.sorted { ($0.bytes, $0.requests, $0.customerId) > ($1.bytes, $1.requests, $1.customerId) } : nil
        self.unattributed = byCustomer ? unattributed : nil
    }
}
