import Foundation

/// When the SDK asks Portcullis for the license again.
///
/// A question is answered with the license as Portcullis says it now (an archived license is
/// archived on the next question), but the application asks on its own request paths (a field
/// per request is common), so a question must not wait on Portcullis each time: not when many
/// come at once (three hundred concurrent questions were three hundred calls), and above all not
/// when Portcullis is unreachable from the cluster (each question waited out a connect or read
/// timeout, 5–15 s). So: one fetch at a time, which every question arriving meanwhile joins; a
/// question waits for a fetch at most `patience` after it began (a fetch still running then is
/// left to finish, and the kept copy answers); after a failure Portcullis is not asked again for
/// `backoff`, and the kept copy answers at once.
struct LicenseRefreshSchedule: Sendable, Equatable {
    /// How long after a fetch its answer is labelled Portcullis's (`source: portcullis`).
    static let freshFor: TimeInterval = 10
    static let backoff: TimeInterval = 30
    static let patienceSeconds: TimeInterval = 2
    static var patience: Duration { .milliseconds(Int64(patienceSeconds * 1000)) }

    enum Decision: Equatable {
        /// Answer from what was last fetched (or kept), asking nobody: Portcullis failed moments ago,
        /// or a fetch has been running longer than a question waits.
        case answerFromKept
        /// Ask Portcullis; this question's caller starts the fetch.
        case startFetch
        /// A fetch is under way: wait for it (up to `patience`).
        case joinFetch
    }

    private(set) var lastFetched: Date?
    private(set) var lastFailed: Date?
    /// When the fetch under way began; nil when none is.
    private(set) var fetchStarted: Date?

    mutating func decide(now: Date) -> Decision {
        if let fetchStarted { return now.timeIntervalSince(fetchStarted) < Self.patienceSeconds ? .joinFetch : .answerFromKept }
        if let lastFailed, now.timeIntervalSince(lastFailed) < Self.backoff { return .answerFromKept }
        fetchStarted = now
        return .startFetch
    }

    mutating func finished(succeeded: Bool, at now: Date) {
        fetchStarted = nil
        if succeeded {
            lastFetched = now
            lastFailed = nil
        } else {
            lastFailed = now
        }
    }

    /// Whether the last fetch's answer is Portcullis's word now: recent, and no failure since.
    func isFresh(now: Date) -> Bool {
        lastFailed == nil && (lastFetched.map { now.timeIntervalSince($0) < Self.freshFor } ?? false)
    }
}
