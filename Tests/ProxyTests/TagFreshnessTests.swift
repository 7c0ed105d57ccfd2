import Foundation
import Testing
import Upstream
@testable import Proxy

@Suite struct TagFreshnessTests {
    static let base = Date(timeIntervalSince1970: 1_700_000_000)
    /// A minute of trust, then five more minutes of stale serving during outages.
    static let policy = ProxyPolicy(tagTTL: 60, staleLimit: 300)

    struct FreshnessCase: Sendable, CustomTestStringConvertible {
        /// Seconds since the tag was checked; nil when nothing is cached.
        var age: TimeInterval?
        var expected: TagFreshness
        var testDescription: String { "age \(age.map { "\($0)" } ?? "none") → \(expected)" }
    }

    static let freshnessCases: [FreshnessCase] = [
        FreshnessCase(age: nil, expected: .missing),
        FreshnessCase(age: 0, expected: .fresh),
        FreshnessCase(age: 1, expected: .fresh),
        FreshnessCase(age: 59.999, expected: .fresh),
        FreshnessCase(age: 60, expected: .revalidate),
        FreshnessCase(age: 60.001, expected: .revalidate),
        FreshnessCase(age: 359.999, expected: .revalidate),
        FreshnessCase(age: 360, expected: .revalidate),
        FreshnessCase(age: 86_400 * 365, expected: .revalidate),
        // Checked "in the future" (another replica's clock is ahead): still fresh, not a crash.
        FreshnessCase(age: -5, expected: .fresh),
    ]

    @Test(arguments: freshnessCases)
    func freshness(_ c: FreshnessCase) {
        let checkedAt = c.age.map { Self.base.addingTimeInterval(-$0) }
        #expect(TagFreshness.of(checkedAt: checkedAt, now: Self.base, policy: Self.policy) == c.expected)
    }

    struct StaleCase: Sendable, CustomTestStringConvertible {
        var age: TimeInterval?
        var outage: Bool
        var mayServe: Bool
        var testDescription: String { "age \(age.map { "\($0)" } ?? "none"), outage \(outage) → \(mayServe)" }
    }

    static let staleCases: [StaleCase] = [
        // Outages: anything within TTL + stale limit (here 360 s), the limit itself excluded.
        StaleCase(age: 0, outage: true, mayServe: true),
        StaleCase(age: 59.999, outage: true, mayServe: true),
        StaleCase(age: 60, outage: true, mayServe: true),
        StaleCase(age: 200, outage: true, mayServe: true),
        StaleCase(age: 359.999, outage: true, mayServe: true),
        StaleCase(age: 360, outage: true, mayServe: false),
        StaleCase(age: 360.001, outage: true, mayServe: false),
        StaleCase(age: 86_400, outage: true, mayServe: false),
        StaleCase(age: nil, outage: true, mayServe: false),
        // Refusals (404, bad credentials) are never answered from cache, however fresh.
        StaleCase(age: 0, outage: false, mayServe: false),
        StaleCase(age: 60, outage: false, mayServe: false),
        StaleCase(age: 200, outage: false, mayServe: false),
        StaleCase(age: 359.999, outage: false, mayServe: false),
        StaleCase(age: nil, outage: false, mayServe: false),
    ]

    @Test(arguments: staleCases)
    func staleServing(_ c: StaleCase) {
        let checkedAt = c.age.map { Self.base.addingTimeInterval(-$0) }
        #expect(TagFreshness.mayServeStale(checkedAt: checkedAt, now: Self.base, policy: Self.policy, outage: c.outage) == c.mayServe)
    }

    @Test func aZeroStaleLimitServesNothingPastTheTTL() {
        let policy = ProxyPolicy(tagTTL: 60, staleLimit: 0)
        let at = { (age: TimeInterval) in Self.base.addingTimeInterval(-age) }
        #expect(TagFreshness.mayServeStale(checkedAt: at(59.999), now: Self.base, policy: policy, outage: true))
        #expect(!TagFreshness.mayServeStale(checkedAt: at(60), now: Self.base, policy: policy, outage: true))
        #expect(TagFreshness.of(checkedAt: at(60), now: Self.base, policy: policy) == .revalidate)
    }

    @Test func outagesAreWhatMayBeServedStale() {
        // The upstream errors that count as an outage for `mayServeStale(outage:)`.
        #expect(UpstreamErrorKinds.outages.allSatisfy { $0.isOutage })
        #expect(UpstreamErrorKinds.refusals.allSatisfy { !$0.isOutage })
    }
}

enum UpstreamErrorKinds {
    static let outages: [UpstreamError] = [.serverError(503), .serverError(500), .rateLimited(retryAfter: 7), .rateLimited(retryAfter: nil),
                                           .unreachable("connection refused")]
    static let refusals: [UpstreamError] = [.notFound, .authenticationFailed, .unexpectedStatus(418), .invalidResponse("x")]
}
