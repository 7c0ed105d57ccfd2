import Foundation
import Logging
import OCI
import Storage

/// What a garbage collection removed, or would remove on a dry run.
public struct GarbageCollectionReport: Sendable, Equatable {
    /// Blob claims of vendor repositories that no manifest of the repository references.
    public var unreferencedLinks: [HostedLink] = []
    /// Blobs whose bytes went (or would go) because nothing else holds them.
    public var deletedBlobs: [Digest] = []
    public var freedBytes: Int64 = 0
    /// Unreferenced claims younger than the grace period, kept for pushes under way.
    public var keptInGrace = 0
    public var dryRun = false
}

/// Removes what vendors pushed that no manifest references any more, safely against pushes
/// running at the same time.
///
/// A blob claim (a repository's link to a blob) is live when it is a manifest of that
/// repository or is referenced by one (config, layers, child manifests). Dead claims younger
/// than the grace period stay: a push uploads blobs before the manifest that names them.
/// A manifest being pushed renews the claims it names, and a claim is only removed while it
/// is still old and still not a manifest, so a manifest can never land on a removed blob.
/// Bytes go only once nothing at all holds the digest: no repository, release, delivered
/// chart or proxy cache entry (all share one content-addressed store).
public struct HostedGarbageCollector: Sendable {
    let store: any HostedCollectionStore
    let blobs: any BlobStore
    let manifestLimit: Int
    let logger: Logger

    public init(store: any HostedCollectionStore, blobs: any BlobStore, manifestLimit: Int = 4 << 20, logger: Logger) {
        self.store = store
        self.blobs = blobs
        self.manifestLimit = manifestLimit
        self.logger = logger
    }

    public func collect(grace: TimeInterval, dryRun: Bool, now: Date = Date()) async throws -> GarbageCollectionReport {
        let live = try await liveClaims()
        let cutoff = now.addingTimeInterval(-grace)
        var report = GarbageCollectionReport(dryRun: dryRun)
        var dead: [HostedLink] = []
        var claimsByDigest: [Digest: Int] = [:]
        for link in try await store.hostedLinks() {
            claimsByDigest[link.digest, default: 0] += 1
            guard !live.contains(Claim(repository: link.repository, digest: link.digest)) else { continue }
            if link.linkedAt >= cutoff { report.keptInGrace += 1 } else { dead.append(link) }
        }
        var released: [Digest: Int] = [:]
        for link in dead {
            if dryRun {
                report.unreferencedLinks.append(link)
                released[link.digest, default: 0] += 1
            } else if try await store.removeHostedLink(repository: link.repository, digest: link.digest, linkedBefore: cutoff) {
                report.unreferencedLinks.append(link)
                released[link.digest, default: 0] += 1
            }
        }
        for (digest, count) in released.sorted(by: { $0.key.description < $1.key.description }) {
            if dryRun {
                // Would go if every vendor claim on it is dead and nothing else holds it.
                guard count == claimsByDigest[digest], try await !store.isHeldAnywhere(digest, besidesVendorRepositories: true) else { continue }
            } else {
                guard try await !store.isHeldAnywhere(digest, besidesVendorRepositories: false) else { continue }
            }
            let size = try await blobs.size(of: digest) ?? 0
            if !dryRun { try await blobs.delete(digest) }
            report.deletedBlobs.append(digest)
            report.freedBytes += size
        }
        if !dryRun, !report.unreferencedLinks.isEmpty {
            logger.info("garbage collection", metadata: ["claims": "\(report.unreferencedLinks.count)",
                                                         "blobs": "\(report.deletedBlobs.count)", "bytes": "\(report.freedBytes)"])
        }
        return report
    }

    private struct Claim: Hashable {
        var repository: String
        var digest: Digest
    }

    /// Every manifest of every vendor repository, and what each references, as claims.
    private func liveClaims() async throws -> Set<Claim> {
        var live = Set<Claim>()
        for (repository, digest) in try await store.hostedManifests() {
            live.insert(Claim(repository: repository, digest: digest))
            guard let bytes = try await blobs.readAll(digest, limit: manifestLimit) else {
                logger.warning("manifest bytes missing; its blobs are kept", metadata: ["repository": "\(repository)", "digest": "\(digest)"])
                throw GarbageCollectionError("manifest \(digest) of \(repository) cannot be read; nothing was collected")
            }
            let summary = try ManifestSummary(parsing: bytes.readableBytesView, contentType: nil)
            for referenced in (summary.config.map { [$0.digest] } ?? []) + summary.layers.map(\.digest) + summary.manifests.map(\.digest) {
                live.insert(Claim(repository: repository, digest: referenced))
            }
        }
        return live
    }
}

public struct GarbageCollectionError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
