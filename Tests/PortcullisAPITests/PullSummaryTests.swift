import Foundation
import Testing
@testable import PortcullisAPI

struct PullSummaryTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000) // 2027-01-15 08:00 UTC

    func record(_ hoursAgo: Double, _ repository: String, status: Int = 200, bytes: Int64 = 0, reason: String? = nil) -> PullBody {
        PullBody(id: UUID().uuidString, at: now.addingTimeInterval(-hoursAgo * 3600), customerID: "c", appSlug: "acme", repository: repository,
                 reference: "v1", action: "blob", status: status, bytes: bytes, reason: reason)
    }

    @Test func daysImagesAndRefusalsAreCountedApart() {
        let summary = PullSummaryBody(summarizing: [
            record(1, "proxy/acme/quay/api", bytes: 1000),
            record(2, "proxy/acme/quay/api", bytes: 500),
            record(3, "proxy/acme/quay/web", bytes: 10),
            record(30, "proxy/acme/quay/api", status: 401, bytes: 99, reason: "license expired"),
            record(31, "proxy/acme/quay/api", status: 401, reason: "license expired"),
            record(32, "acme/other", status: 403, reason: nil),
            record(24 * 20, "proxy/acme/quay/api", bytes: 1 << 30), // older than the window
        ], days: 7, now: now)
        #expect(summary.days.count == 7)
        #expect(summary.days.last == .init(date: "2027-01-15", requests: 3, bytes: 1510, refused: 0))
        #expect(summary.days[5] == .init(date: "2027-01-14", requests: 3, bytes: 0, refused: 3), "refused requests deliver no bytes")
        #expect(summary.days.first?.date == "2027-01-09")
        #expect(summary.images.map(\.repository) == ["proxy/acme/quay/api", "proxy/acme/quay/web", "acme/other"])
        #expect(summary.images[0].requests == 4 && summary.images[0].bytes == 1500 && summary.images[0].refused == 2)
        #expect(summary.refusals == [.init(reason: "license expired", count: 2), .init(reason: "HTTP 403", count: 1)])
    }
}
