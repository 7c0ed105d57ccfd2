import Foundation
import Logging
import Metrics
import OCI
import RegistryCore
import Storage
import Tracing
import Upstream

/// Joins concurrent misses for the same blob onto one upstream fetch.
///
/// The first request for a missing digest starts a `BlobFill` on the fill service; every
/// other request for that digest while it runs reads the same fill. A fill publishes the
/// blob to the store before it leaves the table, so a later request finds it there.
///
/// Replicas sharing an object store also share the fetch: with `leases`, a replica fetches
/// only while it holds the digest's lease. A replica that finds the lease taken streams the
/// holder's fill through `peers` when it can (one stream per replica, spooled and verified here
/// like an upstream's, published by the holder alone), and otherwise waits for the holder to
/// publish (or to die, when the lease runs out and it takes over).
public actor BlobCache {
    public nonisolated let store: any BlobStore
    private let fills: FillService
    private let leases: (any FillLeases)?
    private let peers: (any PeerFills)?
    private var table: FillTable<BlobFill, CheckedContinuation<Void, Never>>
    private let logger: Logger

    public init(store: any BlobStore, fills: FillService, leases: (any FillLeases)? = nil, peers: (any PeerFills)? = nil,
                logger: Logger) {
        self.store = store
        self.fills = fills
        self.leases = leases
        self.peers = peers
        self.logger = logger
        table = FillTable(pollInterval: leases?.pollInterval ?? .milliseconds(250), streamsFromPeers: leases != nil && peers != nil)
    }

    /// The stored blob, the fill already under way, or a new fill started with `fetch`.
    ///
    /// `place` names where the request reads from; content it did not fetch itself (stored, or
    /// arriving for another place) is served only after `confirm` has checked that its own
    /// place holds the blob, so a digest learnt elsewhere reads nothing. `completed` runs once
    /// after a successful fill, on the fill's task, before other replicas are let in.
    public func content(_ digest: Digest, for place: String = "", confirm: @escaping @Sendable () async throws -> Void = {},
                        fetch: @escaping @Sendable () async throws -> UpstreamBlob,
                        completed: @escaping @Sendable (Int64) async -> Void) async throws -> BlobContent {
        // Without replicas to share with, this replica may always fetch.
        var holdsLease = leases == nil
        while true {
            if let running = table.joinable(digest, for: place) {
                if running.confirm { try await confirm() }
                return .arriving(running.fill.reader)
            }
            if let reader = try await store.open(digest) {
                // Published (here, or by the replica whose lease we waited on): the lease is not needed.
                if holdsLease, let leases { await leases.release(digest) }
                try await confirm()
                return .complete(reader)
            }
            // Decided and acted on with no suspension in between: see `FillTable`.
            switch table.next(digest, for: place, holdsLease: holdsLease) {
            case .join(let fill, let mustConfirm):
                if mustConfirm { try await confirm() }
                return .arriving(fill.reader)
            case .start:
                return try start(digest, for: place, fetch: fetch, completed: completed)
            case .claimLease:
                switch try await leadLeaseWait(digest, confirm: confirm) {
                case .acquired:
                    holdsLease = true
                case .streaming(let source, let peer):
                    return try startStreaming(digest, for: place, from: source, peer: peer)
                }
            case .wait:
                await withCheckedContinuation { waiter in
                    if let notQueued = table.enqueue(digest, waiter) { notQueued.resume() }
                }
            }
        }
    }

    private func start(_ digest: Digest, for place: String, fetch: @escaping @Sendable () async throws -> UpstreamBlob,
                       completed: @escaping @Sendable (Int64) async -> Void) throws -> BlobContent {
        let store = self.store, logger = self.logger, leases = self.leases
        return try launch(digest, for: place, running: { fill in
            let renewal = leases.map { leases in Task { await leases.keepRenewed(digest) } }
            let result = await fill.run(fetch: fetch, store: store, logger: logger)
            await self.finished(digest)
            if case .success(let length) = result { await completed(length) }
            renewal?.cancel()
            await leases?.release(digest)
        }, ifRefused: {
            Task { await leases?.release(digest) }
        })
    }

    /// A fill of the lease holder's, streamed here: spooled and verified like an upstream's,
    /// joined by this replica's other requests, and not published (the holder publishes).
    private func startStreaming(_ digest: Digest, for place: String, from source: UpstreamBlob, peer: String) throws -> BlobContent {
        if let running = table.joinable(digest, for: place) {
            // Unreachable while this request leads the wait, but never two fills of one digest.
            return .arriving(running.fill.reader)
        }
        let store = self.store
        var peerLogger = self.logger
        peerLogger[metadataKey: "peer"] = "\(peer)"
        let logger = peerLogger
        let content = try launch(digest, for: place, running: { fill in
            _ = await fill.run(fetch: { source }, store: store, publish: false, logger: logger)
            await self.finished(digest)
        })
        Counter(label: "portcullis_peer_fills_total").increment()
        return content
    }

    /// Records a new fill of `digest` (waking the requests that waited for one) and runs it on
    /// the fill service; `running` copies and then calls `finished`. A fill the service will not
    /// take (it is shutting down) fails its readers at once, and `ifRefused` runs.
    private func launch(_ digest: Digest, for place: String, running: @escaping @Sendable (BlobFill) async -> Void,
                        ifRefused: @Sendable () -> Void = {}) throws -> BlobContent {
        let fill = BlobFill(digest: digest, spool: try store.makeSpoolFile())
        for waiter in table.started(digest, place: place, fill: fill) { waiter.resume() }
        Gauge(label: "portcullis_fills_in_flight").record(table.fillCount)
        // The fill runs on the fill service's task; its spans still belong to the request's trace.
        let trace = InstrumentationContext.current
        let accepted = fills.submit {
            await InstrumentationContext.withValue(trace) { await running(fill) }
        }
        if !accepted {
            fill.abandon(.shuttingDown, store: store)
            finished(digest)
            ifRefused()
        }
        return .arriving(fill.reader)
    }

    enum LeaseWaitOutcome {
        /// This replica holds the lease now.
        case acquired
        /// The holder's fill, streaming from the replica at `peer`.
        case streaming(UpstreamBlob, peer: String)
    }

    /// Polls for the digest's lease until this replica holds it (the other holder published,
    /// gave up or died) or the holder streams its fill here, for every request here that waits
    /// on it. The place is confirmed before a peer is asked: the holder may be fetching the
    /// digest for another upstream repository.
    private func leadLeaseWait(_ digest: Digest, confirm: @Sendable () async throws -> Void) async throws -> LeaseWaitOutcome {
        guard let leases else { return .acquired }
        var confirmed = false
        // The leader's wait ends however it leaves; the others then look again without it.
        func leaving<T>(_ body: () async throws -> T) async throws -> T {
            do {
                return try await body()
            } catch {
                for waiter in table.leaderLeft(digest) { waiter.resume() }
                throw error
            }
        }
        while true {
            let claim = try await leaving { try await leases.claim(digest) }
            var step = table.leaseAnswered(digest, claim: claim)
            if case .askPeer(let peer) = step, let peers {
                if !confirmed {
                    try await leaving { try await confirm() }
                    confirmed = true
                }
                if let source = await peers.open(digest, from: peer) {
                    return .streaming(source, peer: peer)
                }
                step = table.peerDeclined(digest, peer: peer)
            }
            switch step {
            case .acquired(let waiters):
                for waiter in waiters { waiter.resume() }
                return .acquired
            case .poll(let interval):
                // This request's client going away ends the sleep; another waiting request leads from here.
                try await leaving { try await Task.sleep(for: interval) }
            case .askPeer:
                // Only asked for with `peers` set.
                try await leaving { try await Task.sleep(for: leases.pollInterval) }
            }
        }
    }

    /// The fill running here for `digest`, for a replica that streams it (nil when none runs).
    ///
    /// A replica that asks finds the lease taken the moment it is taken here, while this replica
    /// still looks in the object store before it starts the fill: so while this replica holds
    /// the lease, the fill is waited for, up to `patience`, rather than answered with "none",
    /// after which the asker would wait several polls before asking again.
    public func runningFill(_ digest: Digest, patience: Duration = .zero) async -> (any ArrivingBlob)? {
        let deadline = ContinuousClock.now + patience
        while true {
            if let running = table.joinable(digest, for: "") { return running.fill.reader }
            guard let leases, leases.isHeldHere(digest), ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
            if Task.isCancelled { return nil }
        }
    }

    public var fillsInFlight: Int { table.fillCount }

    public func isFilling(_ digest: Digest) -> Bool { table.isFilling(digest) }

    private func finished(_ digest: Digest) {
        table.finished(digest)
        Gauge(label: "portcullis_fills_in_flight").record(table.fillCount)
    }
}
