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
/// only while it holds the digest's lease, and a replica that finds the lease taken waits
/// for the holder to publish (or to die, when the lease runs out and it takes over).
public actor BlobCache {
    public nonisolated let store: any BlobStore
    private let fills: FillService
    private let leases: (any FillLeases)?
    private var table: FillTable<BlobFill, CheckedContinuation<Void, Never>>
    private let logger: Logger

    public init(store: any BlobStore, fills: FillService, leases: (any FillLeases)? = nil, logger: Logger) {
        self.store = store
        self.fills = fills
        self.leases = leases
        self.logger = logger
        table = FillTable(pollInterval: leases?.pollInterval ?? .milliseconds(250))
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
                try await leadLeaseWait(digest)
                holdsLease = true
            case .wait:
                await withCheckedContinuation { waiter in
                    if let notQueued = table.enqueue(digest, waiter) { notQueued.resume() }
                }
            }
        }
    }

    private func start(_ digest: Digest, for place: String, fetch: @escaping @Sendable () async throws -> UpstreamBlob,
                       completed: @escaping @Sendable (Int64) async -> Void) throws -> BlobContent {
        let fill = BlobFill(digest: digest, spool: try store.makeSpoolFile())
        for waiter in table.started(digest, place: place, fill: fill) { waiter.resume() }
        Gauge(label: "portcullis_fills_in_flight").record(table.fillCount)
        let store = self.store, logger = self.logger, leases = self.leases
        // The fill runs on the fill service's task; its spans still belong to the request's trace.
        let trace = InstrumentationContext.current
        let accepted = fills.submit {
            await InstrumentationContext.withValue(trace) {
                let renewal = leases.map { leases in Task { await leases.keepRenewed(digest) } }
                let result = await fill.run(fetch: fetch, store: store, logger: logger)
                await self.finished(digest)
                if case .success(let length) = result { await completed(length) }
                renewal?.cancel()
                await leases?.release(digest)
            }
        }
        if !accepted {
            fill.abandon(.shuttingDown, store: store)
            finished(digest)
            Task { await leases?.release(digest) }
        }
        return .arriving(fill.reader)
    }

    /// Polls for the digest's lease until this replica holds it (the other holder published,
    /// gave up or died), for every request here that waits on it.
    private func leadLeaseWait(_ digest: Digest) async throws {
        guard let leases else { return }
        while true {
            let claimed: Bool
            do {
                claimed = try await leases.claim(digest)
            } catch {
                for waiter in table.leaderLeft(digest) { waiter.resume() }
                throw error
            }
            switch table.leaseAnswered(digest, claimed: claimed) {
            case .acquired(let waiters):
                for waiter in waiters { waiter.resume() }
                return
            case .poll(let interval):
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    // This request's client went away; another waiting request leads from here.
                    for waiter in table.leaderLeft(digest) { waiter.resume() }
                    throw error
                }
            }
        }
    }

    public var fillsInFlight: Int { table.fillCount }

    public func isFilling(_ digest: Digest) -> Bool { table.isFilling(digest) }

    private func finished(_ digest: Digest) {
        table.finished(digest)
        Gauge(label: "portcullis_fills_in_flight").record(table.fillCount)
    }
}
