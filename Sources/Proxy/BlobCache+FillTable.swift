import OCI

extension BlobCache {
    /// The blob cache's bookkeeping as a value: the fills this replica runs, and the requests
    /// waiting while another replica holds a digest's lease. Events in, steps out; no I/O, no
    /// tasks, no clocks, so every interleaving of requests, fills and lease answers can be
    /// driven by a test.
    ///
    /// The cache asks `next` after it has looked in the store and found nothing, with no
    /// suspension between that answer and acting on it (`.start` is followed at once by
    /// `started`): that is what makes two requests for one digest never start two fills.
    struct FillTable<Fill: Sendable, Waiter: Sendable>: Sendable {
        enum Entry: Sendable {
            /// This replica is fetching the digest, for `place` (the upstream repository asked).
            case filling(Fill, place: String)
            /// Another replica holds the lease. One request here (the leader) polls for it; the
            /// others wait to be woken, and then look again. `declined`: the peer that last had
            /// no fill to stream, and at which poll.
            case awaitingReplica(waiters: [Waiter], polls: Int, declined: (peer: String, atPoll: Int)? = nil)
        }

        enum Step: Sendable {
            /// A fill is under way here: read it, confirming the place first when it was
            /// started for another (a digest learnt elsewhere must be shown to be upstream here).
            case join(Fill, confirm: Bool)
            /// Start a fill now, and record it with `started` before any suspension.
            case start
            /// Replicas share fills: ask for the digest's lease (this request leads the wait).
            case claimLease
            /// Another request here already waits on the lease: wait with it (`enqueue`).
            case wait
        }

        enum LeaseStep: Sendable {
            /// The lease is this replica's: the leader looks in the store again and fills if the
            /// blob is still missing; the waiters are woken to look again too (they find the
            /// published blob or join the leader's fill).
            case acquired(wake: [Waiter])
            /// Held by the replica at this address: the leader asks it for the fill it is running,
            /// to stream it here while it arrives there (answered with `started` or `peerDeclined`).
            case askPeer(String)
            /// Still held elsewhere: ask again after the interval.
            case poll(after: Duration)
        }

        private(set) var entries: [Digest: Entry] = [:]
        let pollInterval: Duration
        /// Whether this replica can stream from the lease's holder at all.
        let streamsFromPeers: Bool
        /// A peer that had no fill to stream is asked again this many polls later, not at every
        /// poll: it is publishing the blob (or failed), which the store or the lease will tell.
        static var peerRetryPolls: Int { 4 }

        init(pollInterval: Duration, streamsFromPeers: Bool = false) {
            self.pollInterval = pollInterval
            self.streamsFromPeers = streamsFromPeers
        }

        var fillCount: Int {
            entries.values.count { if case .filling = $0 { true } else { false } }
        }

        /// A fill under way here, before looking in the store (the quick path for followers).
        func joinable(_ digest: Digest, for place: String) -> (fill: Fill, confirm: Bool)? {
            guard case .filling(let fill, let started) = entries[digest] else { return nil }
            return (fill, started != place)
        }

        func isFilling(_ digest: Digest) -> Bool { joinable(digest, for: "") != nil }

        /// What a request does once the store did not have the digest. `holdsLease`: this
        /// request has the lease, or there are no replicas to share with.
        mutating func next(_ digest: Digest, for place: String, holdsLease: Bool) -> Step {
            switch entries[digest] {
            case .filling(let fill, let started):
                return .join(fill, confirm: started != place)
            case .awaitingReplica:
                return holdsLease ? .start : .wait
            case nil:
                if holdsLease { return .start }
                entries[digest] = .awaitingReplica(waiters: [], polls: 0)
                return .claimLease
            }
        }

        /// Records the fill a `.start` (or a peer's stream, after `.askPeer`) began. Requests that
        /// began waiting on the lease meanwhile are returned to be woken: they join this fill.
        mutating func started(_ digest: Digest, place: String, fill: Fill) -> [Waiter] {
            let waiting: [Waiter] = if case .awaitingReplica(let waiters, _, _) = entries[digest] { waiters } else { [] }
            entries[digest] = .filling(fill, place: place)
            return waiting
        }

        /// A request told to `.wait`, suspended until the leader's wait ends. Nil when there is
        /// nothing to wait for any more (the entry changed): the request looks again at once.
        mutating func enqueue(_ digest: Digest, _ waiter: Waiter) -> Waiter? {
            guard case .awaitingReplica(var waiters, let polls, let declined) = entries[digest] else { return waiter }
            waiters.append(waiter)
            entries[digest] = .awaitingReplica(waiters: waiters, polls: polls, declined: declined)
            return nil
        }

        /// The leader's answer from the lease.
        mutating func leaseAnswered(_ digest: Digest, claim: LeaseClaim) -> LeaseStep {
            guard case .awaitingReplica(let waiters, let polls, let declined) = entries[digest] else {
                // The wait is gone (its leader left and another took over): nothing is held up.
                return claim == .held ? .acquired(wake: []) : .poll(after: pollInterval)
            }
            guard case .heldElsewhere(let peer) = claim else {
                entries[digest] = nil
                return .acquired(wake: waiters)
            }
            entries[digest] = .awaitingReplica(waiters: waiters, polls: polls + 1, declined: declined)
            if streamsFromPeers, let peer {
                let recentlyDeclined = declined.map { $0.peer == peer && polls + 1 - $0.atPoll < Self.peerRetryPolls } ?? false
                if !recentlyDeclined { return .askPeer(peer) }
            }
            return .poll(after: pollInterval)
        }

        /// The peer asked had no fill of the digest to stream (or could not be reached): poll.
        mutating func peerDeclined(_ digest: Digest, peer: String) -> LeaseStep {
            guard case .awaitingReplica(let waiters, let polls, _) = entries[digest] else { return .poll(after: pollInterval) }
            entries[digest] = .awaitingReplica(waiters: waiters, polls: polls, declined: (peer, polls))
            return .poll(after: pollInterval)
        }

        /// The leader stopped waiting (its client went away, or the lease could not be asked
        /// for): the waiters are woken, and the first to look again leads a new wait.
        mutating func leaderLeft(_ digest: Digest) -> [Waiter] {
            guard case .awaitingReplica(let waiters, _, _) = entries[digest] else { return [] }
            entries[digest] = nil
            return waiters
        }

        /// A fill ended, published or failed; later requests look in the store.
        mutating func finished(_ digest: Digest) {
            if case .filling = entries[digest] { entries[digest] = nil }
        }

        /// How many times the wait for another replica has asked for the digest's lease.
        func polls(_ digest: Digest) -> Int? {
            guard case .awaitingReplica(_, let polls, _) = entries[digest] else { return nil }
            return polls
        }
    }
}
