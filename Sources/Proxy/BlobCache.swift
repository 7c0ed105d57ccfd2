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
    /// Fills under way here, with the place (upstream repository) each was started for.
    private var inFlight: [Digest: (fill: BlobFill, place: String)] = [:]
    /// Waits for another replica's fill, shared by every request here for that digest.
    private var remoteWaits: [Digest: Task<Void, any Error>] = [:]
    private let logger: Logger

    public init(store: any BlobStore, fills: FillService, leases: (any FillLeases)? = nil, logger: Logger) {
        self.store = store
        self.fills = fills
        self.leases = leases
        self.logger = logger
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
        if let joined = try await existing(digest, for: place, confirm: confirm) { return joined }
        if let leases {
            // Another replica may be fetching it: wait until it is published or the lease is ours.
            try await waitForRemoteFill(digest, leases: leases)
            if let joined = try await existing(digest, for: place, confirm: confirm) {
                // Published meanwhile: the lease is not needed. (Joining a fill under way here
                // keeps it: that fill is this replica's and holds the same lease.)
                if case .complete = joined { await leases.release(digest) }
                return joined
            }
        }
        let fill = BlobFill(digest: digest, spool: try store.makeSpoolFile())
        inFlight[digest] = (fill, place)
        Gauge(label: "portcullis_fills_in_flight").record(inFlight.count)
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
            await leases?.release(digest)
        }
        return .arriving(fill.reader)
    }

    /// A fill under way here or the stored blob, confirmed for `place`; nil when neither.
    private func existing(_ digest: Digest, for place: String, confirm: @Sendable () async throws -> Void) async throws -> BlobContent? {
        if let running = inFlight[digest] {
            if running.place != place { try await confirm() }
            return .arriving(running.fill.reader)
        }
        if let reader = try await store.open(digest) {
            try await confirm()
            return .complete(reader)
        }
        // A fill may have started here while `open` was suspended.
        if let running = inFlight[digest] {
            if running.place != place { try await confirm() }
            return .arriving(running.fill.reader)
        }
        return nil
    }

    /// Returns once this replica holds the digest's lease (the other holder published, gave
    /// up or died). Every request here waiting for the digest shares one wait.
    private func waitForRemoteFill(_ digest: Digest, leases: any FillLeases) async throws {
        if let wait = remoteWaits[digest] { return try await wait.value }
        let wait = Task {
            while try await !leases.claim(digest) {
                try await Task.sleep(for: leases.pollInterval)
            }
        }
        remoteWaits[digest] = wait
        defer { remoteWaits[digest] = nil }
        try await wait.value
    }

    public var fillsInFlight: Int { inFlight.count }

    public func isFilling(_ digest: Digest) -> Bool { inFlight[digest] != nil }

    private func finished(_ digest: Digest) {
        inFlight[digest] = nil
        Gauge(label: "portcullis_fills_in_flight").record(inFlight.count)
    }
}
