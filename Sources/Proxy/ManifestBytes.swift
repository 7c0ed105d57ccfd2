import NIOCore
import OCI
import Synchronization

/// Manifest bytes by digest, in memory up to a budget: the same few manifests are asked for
/// over and over, and reading them from the store costs a file open and a thread-pool hop.
/// Content-addressed, so an entry is never stale; the oldest go first when the budget is spent.
public final class ManifestBytes: Sendable {
    private struct State {
        var entries: [Digest: ByteBuffer] = [:]
        var order: [Digest] = []
        var bytes = 0
    }

    private let state = Mutex(State())
    private let budget: Int

    public init(budget: Int = 32 << 20) {
        self.budget = budget
    }

    func get(_ digest: Digest) -> ByteBuffer? {
        state.withLock { $0.entries[digest] }
    }

    func put(_ bytes: ByteBuffer, for digest: Digest) {
        guard bytes.readableBytes <= budget / 8 else { return }
        state.withLock { s in
            guard s.entries[digest] == nil else { return }
            s.entries[digest] = bytes
            s.order.append(digest)
            s.bytes += bytes.readableBytes
            while s.bytes > budget, !s.order.isEmpty {
                let evicted = s.order.removeFirst()
                s.bytes -= s.entries.removeValue(forKey: evicted)?.readableBytes ?? 0
            }
        }
    }
}
