import Foundation
import NIOCore
import OCI
import RegistryCore
import Storage
import Synchronization

/// What this process remembers of delivered charts: recipes it built or read (their manifests,
/// a few hundred bytes each), which digests it knows are visible where, and the builds under
/// way, so concurrent first pulls of one recipe share one build.
final class DeliveredChartMemory: Sendable {
    static let holder = "chart-delivery-" + UUID().uuidString.lowercased()
    private static let maxRecipes = 20_000

    private struct State {
        var artifacts: [String: (record: ManifestRecord, bytes: ByteBuffer, confirmedAt: Date)] = [:]
        var order: [String] = []
        var visible: Set<String> = []
        var running: [String: Task<(ManifestRecord, ByteBuffer), any Error>] = [:]
        /// When a pull by digest last marked a manifest used, by place.
        var marked: [String: Date] = [:]
    }

    private let state = Mutex(State())

    /// The recipe's artifact when the store confirmed it since `since`.
    func artifact(_ key: String, confirmedSince since: Date) async -> (ManifestRecord, ByteBuffer)? {
        state.withLock { state in
            guard let kept = state.artifacts[key], kept.confirmedAt >= since else { return nil }
            return (kept.record, kept.bytes)
        }
    }

    func isVisible(_ digest: Digest, in place: BlobVisibility) async -> Bool {
        state.withLock { $0.visible.contains("\(place)|\(digest)") }
    }

    func remember(_ key: String, _ record: ManifestRecord, _ bytes: ByteBuffer, confirmedAt: Date) async {
        state.withLock { state in
            if state.artifacts[key] == nil { state.order.append(key) }
            state.artifacts[key] = (record, bytes, confirmedAt)
            // Past the cap the oldest half goes; a forgotten recipe is read back from the store.
            if state.order.count > Self.maxRecipes {
                let dropped = state.order.prefix(Self.maxRecipes / 2)
                for key in dropped { state.artifacts[key] = nil }
                state.order.removeFirst(dropped.count)
            }
        }
    }

    func remember(visible digests: [Digest], in place: BlobVisibility) async {
        state.withLock { state in
            if state.visible.count > Self.maxRecipes * 4 { state.visible.removeAll() }
            for digest in digests { state.visible.insert("\(place)|\(digest)") }
        }
    }

    /// Whether a manifest read by digest should be marked used now (not marked here within `every`).
    func shouldMark(_ digest: Digest, in place: BlobVisibility, now: Date, every: TimeInterval) async -> Bool {
        state.withLock { state in
            let key = "\(place)|\(digest)"
            if let last = state.marked[key], now.timeIntervalSince(last) < every { return false }
            if state.marked.count > Self.maxRecipes { state.marked.removeAll() }
            state.marked[key] = now
            return true
        }
    }

    func forget(visible digest: Digest, in place: BlobVisibility) async {
        _ = state.withLock { $0.visible.remove("\(place)|\(digest)") }
    }

    /// Runs `work` once for `key` however many callers ask while it runs.
    func once(_ key: String, _ work: @escaping @Sendable () async throws -> (ManifestRecord, ByteBuffer),
              remember: @escaping @Sendable (ManifestRecord, ByteBuffer) async -> Void) async throws -> (ManifestRecord, ByteBuffer) {
        let task = state.withLock { state -> Task<(ManifestRecord, ByteBuffer), any Error> in
            if let running = state.running[key] { return running }
            let task = Task {
                let result = try await work()
                await remember(result.0, result.1)
                return result
            }
            state.running[key] = task
            return task
        }
        defer { state.withLock { if $0.running[key] == task { $0.running[key] = nil } } }
        return try await task.value
    }
}

/// The shared visibility index with what this process already knows in front: delivered
/// charts' blobs are asked for on every pull, and once seen they stay visible.
struct RememberedVisibility: BlobVisibilityIndex {
    let index: any BlobVisibilityIndex
    let memory: DeliveredChartMemory

    func isVisible(_ digest: Digest, in place: BlobVisibility) async throws -> Bool {
        if await memory.isVisible(digest, in: place) { return true }
        let visible = try await index.isVisible(digest, in: place)
        if visible { await memory.remember(visible: [digest], in: place) }
        return visible
    }

    func makeVisible(_ digest: Digest, in place: BlobVisibility) async throws {
        try await index.makeVisible(digest, in: place)
        await memory.remember(visible: [digest], in: place)
    }

    func renewVisible(_ digest: Digest, in place: BlobVisibility) async throws -> Bool {
        let visible = try await index.renewVisible(digest, in: place)
        if visible { await memory.remember(visible: [digest], in: place) }
        return visible
    }

    func hide(_ digest: Digest, in place: BlobVisibility) async throws -> Bool {
        await memory.forget(visible: digest, in: place)
        return try await index.hide(digest, in: place)
    }
}
