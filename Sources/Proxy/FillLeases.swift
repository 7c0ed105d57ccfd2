import Foundation
import Logging
import OCI
import Storage
import Synchronization

/// The answer to a claim on a digest's lease.
public enum LeaseClaim: Sendable, Equatable {
    /// This replica holds it: it fetches the blob.
    case held
    /// Another replica does, reachable at `peer` (its advertised base URL) when it told one.
    case heldElsewhere(peer: String?)
}

/// Who may fetch a blob from upstream, when several replicas share one object store.
public protocol FillLeases: Sendable {
    /// Whether this replica holds the digest's lease now (taking it when free or expired), and
    /// if not, where the replica that holds it can be reached.
    func claim(_ digest: Digest) async throws -> LeaseClaim
    /// Keeps the lease alive while a fill runs; returns when cancelled.
    func keepRenewed(_ digest: Digest) async
    func release(_ digest: Digest) async
    /// How often a waiting replica looks again.
    var pollInterval: Duration { get }
    /// Whether this replica took the digest's lease and has neither released it nor let it run
    /// out: its fill is about to start, under way, or being published.
    func isHeldHere(_ digest: Digest) -> Bool
}

/// Leases rows in the shared database. A lease lasts `ttl` and the filler renews it every
/// third of that, so a replica that dies mid-fill holds up the others for at most `ttl`.
///
/// When the database cannot be reached the replica fetches anyway: a second upstream fetch
/// costs less than a pull that waits on a lease nobody can grant.
public struct SharedFillLeases: FillLeases {
    let store: any FillLeaseStore
    /// This replica, unique per process.
    public let holder: String
    /// Where other replicas reach this one (its advertised base URL), kept with its leases.
    public let address: String?
    let ttl: TimeInterval
    public let pollInterval: Duration
    let logger: Logger
    private let heldHere = LeasesHeldHere()

    public init(store: any FillLeaseStore, holder: String = "replica-" + UUID().uuidString.lowercased(), address: String? = nil,
                ttl: TimeInterval = 10, pollInterval: Duration = .milliseconds(250), logger: Logger) {
        self.store = store
        self.holder = holder
        self.address = address
        self.ttl = ttl
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func claim(_ digest: Digest) async throws -> LeaseClaim {
        let now = Date()
        do {
            let until = now.addingTimeInterval(ttl)
            let owner = try await store.acquireFillLease(digest, holder: holder, address: address, until: until, now: now)
            guard owner.holder == holder else {
                // A replica whose clock runs ahead may take a lease this one still counts as its own.
                heldHere.letGo(digest)
                return .heldElsewhere(peer: owner.address)
            }
            heldHere.hold(digest, until: until)
            return .held
        } catch {
            logger.warning("fill lease unavailable; fetching without one", metadata: ["digest": "\(digest)", "error": "\(error)"])
            return .held
        }
    }

    public func keepRenewed(_ digest: Digest) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(ttl / 3))
            if Task.isCancelled { return }
            _ = try? await claim(digest)
        }
    }

    public func release(_ digest: Digest) async {
        heldHere.letGo(digest)
        try? await store.releaseFillLease(digest, holder: holder)
    }

    public func isHeldHere(_ digest: Digest) -> Bool {
        heldHere.holds(digest, now: Date())
    }
}

/// The leases one replica holds and until when, shared by every copy of its `SharedFillLeases`.
final class LeasesHeldHere: Sendable {
    private let until = Mutex<[Digest: Date]>([:])

    func hold(_ digest: Digest, until end: Date) {
        until.withLock { $0[digest] = end }
    }

    func letGo(_ digest: Digest) {
        until.withLock { _ = $0.removeValue(forKey: digest) }
    }

    func holds(_ digest: Digest, now: Date) -> Bool {
        until.withLock { held in
            // A lease taken by a request that failed before filling is never released here: it runs out.
            if held.count > 1024 { held = held.filter { $0.value > now } }
            return held[digest].map { $0 > now } ?? false
        }
    }
}
