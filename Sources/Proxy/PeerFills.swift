import OCI
import Upstream

/// Reaching the replica that is fetching a blob, to stream its fill while it arrives there
/// instead of waiting for it to reach the shared object store.
///
/// Nothing a peer sends is trusted more than an upstream: the stream is spooled, hashed and
/// held back at its last byte until the digest verifies, exactly as an upstream's is.
public protocol PeerFills: Sendable {
    /// The blob as the replica at `peer` (its advertised base URL) is fetching it, from the
    /// first byte; nil when that replica has no fill of it running (it finished, failed or never
    /// started) or cannot be reached.
    func open(_ digest: Digest, from peer: String) async -> UpstreamBlob?
}
