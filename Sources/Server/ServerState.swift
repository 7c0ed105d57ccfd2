import Synchronization

/// Whether the server is winding down, so readiness can say so before the listener closes.
public final class ServerState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    public func beginDraining() { draining.store(true, ordering: .relaxed) }
}
