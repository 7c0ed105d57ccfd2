import OCI
import Storage

/// Which cached content to evict: the least recently pulled first, skipping what is busy
/// (being served or filled), until enough bytes are freed. Pure, so it is table-tested.
public enum EvictionPlan {
    /// From `candidates` (oldest first), the ones to evict to free `excess` bytes.
    public static func select(_ candidates: [CachedContent], excess: Int64, isBusy: (Digest) -> Bool) -> [CachedContent] {
        guard excess > 0 else { return [] }
        var chosen: [CachedContent] = []
        var freed: Int64 = 0
        for candidate in candidates.sorted(by: { ($0.lastPulledAt, $0.digest.description) < ($1.lastPulledAt, $1.digest.description) })
        where !isBusy(candidate.digest) {
            chosen.append(candidate)
            freed += candidate.size
            if freed >= excess { break }
        }
        return chosen
    }

    /// The size eviction brings the cache down to once it passes `limit`: a tenth below, so
    /// that it does not run again after every fill.
    public static func target(for limit: Int64) -> Int64 { limit - limit / 10 }
}
