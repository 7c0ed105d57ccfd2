import Logging
import Metrics
import NIOCore
import OCI
import Storage

/// Joins concurrent misses for the same blob onto one upstream fetch.
///
/// The first request for a missing digest starts a `BlobFill`; every other request for
/// that digest while it runs reads from the same fill. A fill that finishes publishes
/// the blob to the store before it leaves the table, so a later request finds it there.
public actor BlobCache {
    public nonisolated let store: any BlobStore
    private var fills: [Digest: BlobFill] = [:]
    private let logger: Logger

    public init(store: any BlobStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public enum Lookup: Sendable {
        case stored(any BlobReader)
        case filling(BlobFill)
    }

    /// Returns the stored blob, the fill already under way, or a new fill started with `fetch`.
    /// `completed` runs once after a successful fill (from the fill's task).
    public func lookup(_ digest: Digest, fetch: @escaping @Sendable () async throws -> BlobSource,
                       completed: @escaping @Sendable (Int64) async -> Void) async throws -> Lookup {
        if let fill = fills[digest] { return .filling(fill) }
        if let reader = try await store.open(digest) { return .stored(reader) }
        // The actor may have run another lookup while `open` was suspended.
        if let fill = fills[digest] { return .filling(fill) }
        let fill = BlobFill(digest: digest, spool: try store.makeSpoolFile())
        fills[digest] = fill
        Gauge(label: "portcullis_fills_in_flight").record(fills.count)
        let store = self.store
        let logger = self.logger
        Task.detached {
            let result = await fill.run(fetch: fetch, store: store, logger: logger)
            await self.finished(digest)
            if case .success(let length) = result { await completed(length) }
        }
        return .filling(fill)
    }

    public var fillsInFlight: Int { fills.count }

    private func finished(_ digest: Digest) {
        fills[digest] = nil
        Gauge(label: "portcullis_fills_in_flight").record(fills.count)
    }
}
