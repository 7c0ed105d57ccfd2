import Foundation

/// How long cached tags are trusted, and what to do with one when the upstream fails.
public struct ProxyPolicy: Sendable {
    /// How long a tag is served from cache before it is re-checked upstream.
    public var tagTTL: TimeInterval
    /// How long past its TTL a tag may still be served while the upstream is failing.
    public var staleLimit: TimeInterval
    /// Largest manifest accepted from an upstream.
    public var manifestLimit: Int

    public init(tagTTL: TimeInterval = 60, staleLimit: TimeInterval = 24 * 3600, manifestLimit: Int = 4 << 20) {
        self.tagTTL = tagTTL
        self.staleLimit = staleLimit
        self.manifestLimit = manifestLimit
    }
}

/// The decision a tag request turns on: whether the cached answer may be served as it is,
/// must be checked upstream first, or is needed because the upstream failed.
public enum TagFreshness: Equatable, Sendable {
    /// Checked upstream within the TTL: serve it.
    case fresh
    /// Past its TTL: ask the upstream whether the tag still points at the same digest.
    case revalidate
    /// Nothing cached: fetch from upstream.
    case missing

    public static func of(checkedAt: Date?, now: Date, policy: ProxyPolicy) -> TagFreshness {
        guard let checkedAt else { return .missing }
        return now.timeIntervalSince(checkedAt) < policy.tagTTL ? .fresh : .revalidate
    }

    /// When the upstream fails: true if the cached answer may still be served (it is an
    /// outage, not a refusal, and the tag is within TTL + stale limit).
    public static func mayServeStale(checkedAt: Date?, now: Date, policy: ProxyPolicy, outage: Bool) -> Bool {
        guard outage, let checkedAt else { return false }
        return now.timeIntervalSince(checkedAt) < policy.tagTTL + policy.staleLimit
    }
}
