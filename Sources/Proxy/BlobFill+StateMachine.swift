import OCI

extension BlobFill {
    /// What a reader of a fill waits for.
    enum Condition: Equatable, Sendable {
        /// The upstream's response head (and with it the declared length).
        case head
        /// More than `offset` bytes readable, or the end of the blob.
        case bytes(after: Int64)
    }

    /// What a waiting reader is told.
    enum WaitResult: Equatable, Sendable {
        case head(length: Int64?)
        /// Bytes `0..<upTo` can be read.
        case readable(upTo: Int64)
        /// The blob is verified; `length` bytes in all.
        case complete(length: Int64)
        case failed(BlobFillError)
        case cancelled
    }

    /// One fill's life as a value: events in, actions out. No I/O, no locks, no tasks, so
    /// every interleaving of writer and readers can be driven by a test.
    ///
    /// States: awaiting the upstream's head → streaming → complete or failed. While
    /// streaming, the last byte written is held back: readers can have everything but that
    /// byte until the digest is verified, so content that fails verification never reaches
    /// anyone as a complete response.
    struct StateMachine<Waiter: Sendable>: Sendable {
        enum State: Sendable {
            case awaitingHead
            case streaming(length: Int64?, written: Int64)
            case complete(length: Int64)
            case failed(BlobFillError)
        }

        struct Waiting: Sendable {
            var id: UInt64
            var condition: Condition
            var waiter: Waiter
        }

        /// Readers to resume, each with its result.
        struct Action: Sendable {
            var resume: [(waiter: Waiter, result: WaitResult)] = []
            static var none: Action { Action() }
        }

        private(set) var state: State = .awaitingHead
        private var waiting: [Waiting] = []
        /// Ids cancelled before they started waiting (cancellation can win that race).
        private var cancelledEarly: Set<UInt64> = []

        init() {}

        var waiterCount: Int { waiting.count }

        /// What a reader with `condition` can be told right now, or nil if it must wait.
        func answer(_ condition: Condition) -> WaitResult? {
            switch (state, condition) {
            case (.failed(let error), _): return .failed(error)
            case (.complete(let length), .head): return .head(length: length)
            case (.complete(let length), .bytes): return .complete(length: length)
            case (.awaitingHead, _): return nil
            case (.streaming(let length, _), .head): return .head(length: length)
            case (.streaming(_, let written), .bytes(let offset)):
                let visible = written - 1
                return visible > offset ? .readable(upTo: visible) : nil
            }
        }

        mutating func wait(id: UInt64, for condition: Condition, waiter: Waiter) -> Action {
            if cancelledEarly.remove(id) != nil { return Action(resume: [(waiter, .cancelled)]) }
            if let result = answer(condition) { return Action(resume: [(waiter, result)]) }
            waiting.append(Waiting(id: id, condition: condition, waiter: waiter))
            return .none
        }

        mutating func cancel(id: UInt64) -> Action {
            guard let index = waiting.firstIndex(where: { $0.id == id }) else {
                cancelledEarly.insert(id)
                return .none
            }
            return Action(resume: [(waiting.remove(at: index).waiter, .cancelled)])
        }

        /// The upstream answered; `length` is its declared length, if any.
        mutating func headReceived(length: Int64?) -> Action {
            guard case .awaitingHead = state else { return .none }
            state = .streaming(length: length, written: 0)
            return resumeSatisfied()
        }

        /// `count` more bytes are in the spool.
        mutating func appended(_ count: Int64) -> Action {
            guard case .streaming(let length, let written) = state, count > 0 else { return .none }
            state = .streaming(length: length, written: written + count)
            return resumeSatisfied()
        }

        /// Verified against its digest (publishing it in the store follows; a reader that
        /// has every byte no longer depends on that).
        mutating func completed() -> Action {
            switch state {
            case .streaming(_, let written): state = .complete(length: written)
            case .awaitingHead: state = .complete(length: 0)
            case .complete, .failed: return .none
            }
            return resumeSatisfied()
        }

        mutating func failed(_ error: BlobFillError) -> Action {
            switch state {
            case .complete, .failed: return .none
            case .awaitingHead, .streaming: state = .failed(error)
            }
            return resumeSatisfied()
        }

        private mutating func resumeSatisfied() -> Action {
            var action = Action()
            var still: [Waiting] = []
            for w in waiting {
                if let result = answer(w.condition) {
                    action.resume.append((w.waiter, result))
                } else {
                    still.append(w)
                }
            }
            waiting = still
            return action
        }
    }
}
