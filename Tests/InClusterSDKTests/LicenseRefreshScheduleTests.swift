import Foundation
import Testing
@testable import InClusterSDK

/// When the SDK asks Portcullis for the license again: for each question, one fetch at a time,
/// and not for `backoff` after a failure.
@Suite struct LicenseRefreshScheduleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: TimeInterval) -> Date { t0.addingTimeInterval(seconds) }

    @Test func oneFetchAtATimeWhichQuestionsJoin() {
        var schedule = LicenseRefreshSchedule()
        #expect(schedule.decide(now: at(0)) == .startFetch)
        #expect(schedule.decide(now: at(0.1)) == .joinFetch, "a question during the fetch joins it")
        #expect(schedule.decide(now: at(LicenseRefreshSchedule.patienceSeconds + 0.5)) == .answerFromKept,
                "a fetch that outlasted the patience is not waited for again")
        #expect(!schedule.isFresh(now: at(0.2)))
        schedule.finished(succeeded: true, at: at(3))
        #expect(schedule.isFresh(now: at(4)))
        #expect(schedule.decide(now: at(4)) == .startFetch, "the next question asks again: a change is seen at once")
        schedule.finished(succeeded: true, at: at(5))
        #expect(!schedule.isFresh(now: at(5 + LicenseRefreshSchedule.freshFor)))
    }

    @Test func afterAFailurePortcullisIsLeftAloneForTheBackoff() {
        var schedule = LicenseRefreshSchedule()
        #expect(schedule.decide(now: at(0)) == .startFetch)
        schedule.finished(succeeded: false, at: at(5))
        #expect(!schedule.isFresh(now: at(6)))
        #expect(schedule.decide(now: at(6)) == .answerFromKept)
        #expect(schedule.decide(now: at(5 + LicenseRefreshSchedule.backoff - 1)) == .answerFromKept)
        #expect(schedule.decide(now: at(5 + LicenseRefreshSchedule.backoff)) == .startFetch)
        schedule.finished(succeeded: true, at: at(40))
        #expect(schedule.decide(now: at(41)) == .startFetch)
        #expect(schedule.lastFailed == nil, "a success clears the failure")
    }
}
