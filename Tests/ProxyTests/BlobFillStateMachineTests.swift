import OCI
import Testing
import Upstream
@testable import Proxy

/// The fill's state machine driven event by event. Waiters are plain Ints (the machine is
/// generic over what it resumes), so every step can say exactly who is woken with what.
@Suite struct BlobFillStateMachineTests {
    typealias Machine = BlobFill.StateMachine<Int>
    typealias WaitResult = BlobFill.WaitResult

    /// One input to the machine. Waiter `n` always waits under id `n`.
    enum Event: Sendable, CustomStringConvertible {
        case wait(Int, BlobFill.Condition)
        case cancel(Int)
        case head(Int64?)
        case append(Int64)
        case complete
        case fail(BlobFillError)

        var description: String {
            switch self {
            case .wait(let w, let c): "wait(\(w), \(c))"
            case .cancel(let w): "cancel(\(w))"
            case .head(let l): "head(\(l.map(String.init) ?? "nil"))"
            case .append(let n): "append(\(n))"
            case .complete: "complete"
            case .fail(let e): "fail(\(e))"
            }
        }
    }

    /// What the machine's state should look like, in a comparable form.
    enum StateSummary: Equatable, Sendable {
        case awaitingHead
        case streaming(length: Int64?, written: Int64)
        case complete(length: Int64)
        case failed(BlobFillError)

        init(_ state: Machine.State) {
            switch state {
            case .awaitingHead: self = .awaitingHead
            case .streaming(let length, let written): self = .streaming(length: length, written: written)
            case .complete(let length): self = .complete(length: length)
            case .failed(let error): self = .failed(error)
            }
        }
    }

    struct Resume: Equatable, Sendable, CustomStringConvertible {
        var waiter: Int
        var result: WaitResult
        var description: String { "\(waiter)→\(result)" }
    }

    struct Step: Sendable {
        var event: Event
        /// Everyone this event wakes, each exactly once.
        var resumes: [Resume]
        /// Readers still parked afterwards.
        var waiting: Int

        init(_ event: Event, _ resumes: [(Int, WaitResult)] = [], waiting: Int) {
            self.event = event
            self.resumes = resumes.map { Resume(waiter: $0.0, result: $0.1) }
            self.waiting = waiting
        }
    }

    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var steps: [Step]
        var final: StateSummary
        var testDescription: String { name }

        init(_ name: String, _ steps: [Step], final: StateSummary) {
            self.name = name
            self.steps = steps
            self.final = final
        }
    }

    static let upstreamDown = BlobFillError.upstreamFailed(.serverError(503))
    static let badSize = BlobFillError.sizeMismatch(expected: 10, actual: 9)

    static let scenarios: [Scenario] = [
        Scenario("readers waiting for the head are resumed by it, with its length", [
            Step(.wait(1, .head), waiting: 1),
            Step(.wait(2, .head), waiting: 2),
            Step(.head(100), [(1, .head(length: 100)), (2, .head(length: 100))], waiting: 0),
            Step(.wait(3, .head), [(3, .head(length: 100))], waiting: 0),
        ], final: .streaming(length: 100, written: 0)),

        Scenario("a head without a length resumes head readers with nil", [
            Step(.wait(1, .head), waiting: 1),
            Step(.head(nil), [(1, .head(length: nil))], waiting: 0),
            Step(.wait(2, .head), [(2, .head(length: nil))], waiting: 0),
        ], final: .streaming(length: nil, written: 0)),

        Scenario("the head does not satisfy a byte reader", [
            Step(.wait(1, .bytes(after: 0)), waiting: 1),
            Step(.head(10), waiting: 1),
            Step(.wait(2, .bytes(after: 0)), waiting: 2),
        ], final: .streaming(length: 10, written: 0)),

        Scenario("the last written byte is held back", [
            Step(.head(10), waiting: 0),
            Step(.wait(1, .bytes(after: 0)), waiting: 1),
            // One byte written: written - 1 = 0 is not past offset 0.
            Step(.append(1), waiting: 1),
            // Two bytes: bytes 0..<1 are readable.
            Step(.append(1), [(1, .readable(upTo: 1))], waiting: 0),
            Step(.append(8), waiting: 0),
            // All ten bytes are written, but only nine are readable until verification.
            Step(.wait(2, .bytes(after: 8)), [(2, .readable(upTo: 9))], waiting: 0),
            Step(.wait(3, .bytes(after: 9)), waiting: 1),
            Step(.complete, [(3, .complete(length: 10))], waiting: 0),
        ], final: .complete(length: 10)),

        Scenario("a reader at offset written-1 is woken only by completion", [
            Step(.head(nil), waiting: 0),
            Step(.append(5), waiting: 0),
            Step(.wait(1, .bytes(after: 4)), waiting: 1),
            Step(.wait(2, .bytes(after: 3)), [(2, .readable(upTo: 4))], waiting: 1),
            Step(.complete, [(1, .complete(length: 5))], waiting: 0),
            Step(.wait(3, .bytes(after: 0)), [(3, .complete(length: 5))], waiting: 0),
            Step(.wait(4, .head), [(4, .head(length: 5))], waiting: 0),
        ], final: .complete(length: 5)),

        Scenario("one event wakes every satisfied reader once and leaves the rest", [
            Step(.wait(1, .head), waiting: 1),
            Step(.wait(2, .bytes(after: 0)), waiting: 2),
            Step(.wait(3, .bytes(after: 4)), waiting: 3),
            Step(.wait(4, .bytes(after: 9)), waiting: 4),
            Step(.wait(5, .bytes(after: 20)), waiting: 5),
            Step(.head(nil), [(1, .head(length: nil))], waiting: 4),
            Step(.append(6), [(2, .readable(upTo: 5)), (3, .readable(upTo: 5))], waiting: 2),
            Step(.append(4), waiting: 2),
            Step(.complete, [(4, .complete(length: 10)), (5, .complete(length: 10))], waiting: 0),
        ], final: .complete(length: 10)),

        Scenario("a failure resumes everyone, and later readers are told at once", [
            Step(.wait(1, .head), waiting: 1),
            Step(.head(nil), [(1, .head(length: nil))], waiting: 0),
            Step(.append(3), waiting: 0),
            Step(.wait(2, .bytes(after: 2)), waiting: 1),
            Step(.wait(3, .bytes(after: 50)), waiting: 2),
            Step(.fail(upstreamDown), [(2, .failed(upstreamDown)), (3, .failed(upstreamDown))], waiting: 0),
            Step(.wait(4, .bytes(after: 0)), [(4, .failed(upstreamDown))], waiting: 0),
            Step(.wait(5, .head), [(5, .failed(upstreamDown))], waiting: 0),
        ], final: .failed(upstreamDown)),

        Scenario("a failure before the head fails head readers too", [
            Step(.wait(1, .head), waiting: 1),
            Step(.wait(2, .bytes(after: 0)), waiting: 2),
            Step(.fail(.shuttingDown), [(1, .failed(.shuttingDown)), (2, .failed(.shuttingDown))], waiting: 0),
        ], final: .failed(.shuttingDown)),

        Scenario("cancelling a waiting reader resumes only that one", [
            Step(.wait(1, .head), waiting: 1),
            Step(.wait(2, .head), waiting: 2),
            Step(.wait(3, .bytes(after: 0)), waiting: 3),
            Step(.cancel(2), [(2, .cancelled)], waiting: 2),
            Step(.cancel(2), waiting: 2),
            Step(.head(7), [(1, .head(length: 7))], waiting: 1),
            Step(.append(7), [(3, .readable(upTo: 6))], waiting: 0),
        ], final: .streaming(length: 7, written: 7)),

        Scenario("a cancel that wins the race with its wait makes the wait answer cancelled", [
            Step(.cancel(1), waiting: 0),
            Step(.head(4), waiting: 0),
            Step(.append(4), waiting: 0),
            // Bytes are there, but this reader is already cancelled.
            Step(.wait(1, .bytes(after: 0)), [(1, .cancelled)], waiting: 0),
            // Another reader is unaffected.
            Step(.wait(2, .bytes(after: 0)), [(2, .readable(upTo: 3))], waiting: 0),
        ], final: .streaming(length: 4, written: 4)),

        Scenario("a cancel before the wait also wins over a parked condition", [
            Step(.cancel(1), waiting: 0),
            Step(.wait(1, .head), [(1, .cancelled)], waiting: 0),
            Step(.head(nil), waiting: 0),
        ], final: .streaming(length: nil, written: 0)),

        Scenario("events after completion change nothing", [
            Step(.head(3), waiting: 0),
            Step(.append(3), waiting: 0),
            Step(.complete, waiting: 0),
            Step(.head(99), waiting: 0),
            Step(.append(5), waiting: 0),
            Step(.complete, waiting: 0),
            Step(.fail(upstreamDown), waiting: 0),
            Step(.wait(1, .bytes(after: 0)), [(1, .complete(length: 3))], waiting: 0),
            Step(.wait(2, .head), [(2, .head(length: 3))], waiting: 0),
        ], final: .complete(length: 3)),

        Scenario("events after a failure change nothing", [
            Step(.head(10), waiting: 0),
            Step(.append(9), waiting: 0),
            Step(.fail(badSize), waiting: 0),
            Step(.append(1), waiting: 0),
            Step(.complete, waiting: 0),
            Step(.fail(.shuttingDown), waiting: 0),
            Step(.head(10), waiting: 0),
            Step(.wait(1, .bytes(after: 0)), [(1, .failed(badSize))], waiting: 0),
        ], final: .failed(badSize)),

        Scenario("a zero-length blob: head, nothing appended, completed", [
            Step(.wait(1, .head), waiting: 1),
            Step(.wait(2, .bytes(after: 0)), waiting: 2),
            Step(.head(0), [(1, .head(length: 0))], waiting: 1),
            Step(.complete, [(2, .complete(length: 0))], waiting: 0),
            Step(.wait(3, .bytes(after: 0)), [(3, .complete(length: 0))], waiting: 0),
        ], final: .complete(length: 0)),

        Scenario("appending nothing, or before the head, is ignored", [
            Step(.wait(1, .bytes(after: 0)), waiting: 1),
            Step(.append(5), waiting: 1),
            Step(.head(nil), waiting: 1),
            Step(.append(0), waiting: 1),
            Step(.append(2), [(1, .readable(upTo: 1))], waiting: 0),
        ], final: .streaming(length: nil, written: 2)),

        Scenario("a second head is ignored", [
            Step(.head(10), waiting: 0),
            Step(.head(20), waiting: 0),
            Step(.wait(1, .head), [(1, .head(length: 10))], waiting: 0),
        ], final: .streaming(length: 10, written: 0)),
    ]

    @Test(arguments: scenarios)
    func scenario(_ scenario: Scenario) {
        var machine = Machine()
        #expect(StateSummary(machine.state) == .awaitingHead)
        for (index, step) in scenario.steps.enumerated() {
            let action: Machine.Action = switch step.event {
            case .wait(let w, let condition): machine.wait(id: UInt64(w), for: condition, waiter: w)
            case .cancel(let w): machine.cancel(id: UInt64(w))
            case .head(let length): machine.headReceived(length: length)
            case .append(let count): machine.appended(count)
            case .complete: machine.completed()
            case .fail(let error): machine.failed(error)
            }
            let resumed = action.resume.map { Resume(waiter: $0.waiter, result: $0.result) }
            let sorted = resumed.sorted { $0.waiter < $1.waiter }
            #expect(sorted == step.resumes.sorted { $0.waiter < $1.waiter },
                    "step \(index + 1) (\(step.event)) resumed \(resumed)")
            #expect(Set(resumed.map(\.waiter)).count == resumed.count, "step \(index + 1): a waiter resumed twice")
            #expect(machine.waiterCount == step.waiting, "step \(index + 1) (\(step.event)): waiting readers")
        }
        #expect(StateSummary(machine.state) == scenario.final)
    }

    /// Every prefix of a fill seen by a reader at every offset: the answer is always the
    /// rule, whatever the chunking.
    @Test(arguments: [[10], [1, 9], [3, 3, 3, 1], [9, 1]] as [[Int64]])
    func answersFollowTheHeldBackByteRule(_ chunks: [Int64]) {
        var machine = Machine()
        _ = machine.headReceived(length: 10)
        var written: Int64 = 0
        for chunk in chunks {
            _ = machine.appended(chunk)
            written += chunk
            for offset in Int64(0)...12 {
                let expected: WaitResult? = written - 1 > offset ? .readable(upTo: written - 1) : nil
                #expect(machine.answer(.bytes(after: offset)) == expected, "written \(written), offset \(offset)")
            }
            #expect(machine.answer(.head) == .head(length: 10))
        }
        _ = machine.completed()
        for offset in Int64(0)...12 {
            #expect(machine.answer(.bytes(after: offset)) == .complete(length: 10))
        }
    }

    /// A parked reader of each offset is woken by exactly the append that makes its byte
    /// readable (or by completion for the last byte), and only once.
    @Test func eachReaderWakesExactlyWhenItsByteBecomesReadable() {
        var machine = Machine()
        _ = machine.headReceived(length: 6)
        for offset in 0..<6 { _ = machine.wait(id: UInt64(offset), for: .bytes(after: Int64(offset)), waiter: offset) }
        #expect(machine.waiterCount == 6)
        var wokenAt: [Int: Int64] = [:]
        for step in 1...6 {
            for (waiter, result) in machine.appended(1).resume {
                #expect(wokenAt[waiter] == nil)
                #expect(result == .readable(upTo: Int64(step - 1)))
                wokenAt[waiter] = Int64(step)
            }
        }
        // After n bytes, readers at offsets < n-1 have been woken; the one at 5 waits for the digest.
        #expect(wokenAt == [0: 2, 1: 3, 2: 4, 3: 5, 4: 6])
        #expect(machine.waiterCount == 1)
        let last = machine.completed().resume
        #expect(last.count == 1 && last.first?.waiter == 5 && last.first?.result == .complete(length: 6))
        #expect(machine.waiterCount == 0)
    }
}
