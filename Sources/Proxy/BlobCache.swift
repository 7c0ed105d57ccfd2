import Logging
import Metrics
import OCI
import RegistryCore
import Storage
import Upstream

/// Joins concurrent misses for the same blob onto one upstream fetch.
///
/// The first request for a missing digest starts a `BlobFill` on the fill service; every
/// other request for that digest while it runs reads the same fill. A fill publishes the
/// blob to the store before it leaves the table, so a later request finds it there.
public actor BlobCache {
    public nonisolated let store: any BlobStore
    private let fills: FillService
    private var inFlight: [Digest: BlobFill] = [:]
    private let logger: Logger

    public init(store: any BlobStore, fills: FillService, logger: Logger) {
        self.store = store
        self.fills = fills
        self.logger = logger
    }

    /// The stored blob, the fill already under way, or a new fill started with `fetch`.
    /// `completed` runs once after a successful fill, on the fill's task.
    public func content(_ digest: Digest, fetch: @escaping @Sendable () async throws -> UpstreamBlob,
                        completed: @escaping @Sendable (Int64) async -> Void) async throws -> BlobContent {
        if let fill = inFlight[digest] { return .arriving(fill.reader) }
        if let reader = try await store.open(digest) { return .complete(reader) }
        // Another lookup may have started a fill while `open` was suspended.
        if let fill = inFlight[digest] { return .arriving(fill.reader) }
        let fill = BlobFill(digest: digest, spool: try store.makeSpoolFile())
        inFlight[digest] = fill
        Gauge(label: "portcullis_fills_in_flight").record(inFlight.count)
        let store = self.store
        let logger = self.logger
        let accepted = fills.submit {
            let result = await fill.run(fetch: fetch, store: store, logger: logger)
            await self.finished(digest)
            if case .success(let length) = result { await completed(length) }
        }
        if !accepted {
            fill.abandon(.shuttingDown, store: store)
            finished(digest)
        }
        return .arriving(fill.reader)
    }

    public var fillsInFlight: Int { inFlight.count }

    private func finished(_ digest: Digest) {
        inFlight[digest] = nil
        Gauge(label: "portcullis_fills_in_flight").record(inFlight.count)
    }
}
