import Foundation
import Testing
@testable import PortcullisAPI

struct PullSummaryTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000) // 2027-01-15 08:00 UTC

    /// One request as the per-day counts hold it (refused requests deliver no bytes).
    func record(_ hoursAgo: Double, _ repository: String, status: Int = 200, bytes: Int64 = 0, reason: String? = nil,
                customer: String? = "c") -> PullSummaryBody.Count {
        let at = now.addingTimeInterval(-hoursAgo * 3600), refused = status >= 400
        return .init(day: at, customerID: customer, repository: repository, reason: refused ? (reason ?? "HTTP \(status)") : nil,
                     requests: 1, refused: refused ? 1 : 0, bytes: refused ? 0 : bytes, lastAt: at)
    }

    @Test func daysImagesAndRefusalsAreCountedApart() {
        let summary = PullSummaryBody(counting: [
            record(1, "proxy/acme/quay/api", bytes: 1000),
            record(2, "proxy/acme/quay/api", bytes: 500),
            record(3, "proxy/acme/quay/web", bytes: 10),
            record(30, "proxy/acme/quay/api", status: 401, bytes: 99, reason: "license expired"),
            record(31, "proxy/acme/quay/api", status: 401, reason: "license expired"),
            record(32, "acme/other", status: 403, reason: nil),
            record(24 * 20, "proxy/acme/quay/api", bytes: 1 << 30), // older than the window
        ], days: 7, now: now, byCustomer: false)
        #expect(summary.days.count == 7)
        #expect(summary.customers == nil && summary.unattributed == nil, "only the summary of all traffic splits by customer")
        #expect(summary.days.last == .init(date: "2027-01-15", requests: 3, bytes: 1510, refused: 0))
        #expect(summary.days[5] == .init(date: "2027-01-14", requests: 3, bytes: 0, refused: 3), "refused requests deliver no bytes")
        #expect(summary.days.first?.date == "2027-01-09")
        #expect(summary.images.map(\.repository) == ["proxy/acme/quay/api", "proxy/acme/quay/web", "acme/other"])
        #expect(summary.images[0].requests == 4 && summary.images[0].bytes == 1500 && summary.images[0].refused == 2)
        #expect(summary.refusals == [.init(reason: "license expired", count: 2), .init(reason: "HTTP 403", count: 1)])
    }

    @Test func allTrafficIsSplitByCustomerWithTheVendorsAndAnonymousPullsApart() {
        let summary = PullSummaryBody(counting: [
            record(1, "proxy/acme/quay/api", bytes: 100, customer: "c1"),
            record(2, "proxy/acme/quay/api", bytes: 300, customer: "c2"),
            record(3, "proxy/acme/quay/api", status: 401, reason: "license expired", customer: "c2"),
            record(4, "acme/api", bytes: 50, customer: nil),
        ], days: 2, now: now, byCustomer: true)
        #expect(summary.customers?.map(\.customerId) == ["c2", "c1"], "most bytes first")
        #expect(summary.customers?.first?.refused == 1 && summary.customers?.first?.requests == 2)
        #expect(summary.unattributed == .init(requests: 1, bytes: 50, refused: 0))
        #expect(summary.days.map(\.requests).reduce(0, +) == 4)
    }
}
