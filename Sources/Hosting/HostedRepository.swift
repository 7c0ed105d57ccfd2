import Foundation
import NIOCore
import OCI
import RegistryCore
import Storage

/// What every hosted repository shares: the manifest and tag store, blob visibility, the
/// blob store and the upload sessions.
public struct HostedRegistry: Sendable {
    let repositories: any HostedRepositoryStore
    let visibility: any BlobVisibilityIndex
    public let blobs: any BlobStore
    public let uploads: any BlobUploads
    let manifestLimit: Int

    /// Uploads default to this replica's own sessions.
    public init(repositories: any HostedRepositoryStore, visibility: any BlobVisibilityIndex, blobs: any BlobStore,
                uploads: (any BlobUploads)? = nil, manifestLimit: Int = 4 << 20) {
        self.repositories = repositories
        self.visibility = visibility
        self.blobs = blobs
        self.uploads = uploads ?? LocalUploadSessions(store: blobs)
        self.manifestLimit = manifestLimit
    }

    /// The vendor repository `name` (`<app>/<repo>`).
    public func repository(_ name: RepositoryName) -> HostedRepository {
        HostedRepository(name: name, registry: self)
    }
}

/// A repository vendors push to: `<app>/<repo>`. Blobs go into the content-addressed store
/// shared with the proxy cache and are made visible to each repository that received or
/// mounted them; manifests, tags and referrers are rows of the metadata store.
public struct HostedRepository: RepositoryWriter {
    public let name: RepositoryName
    let registry: HostedRegistry

    private var key: String { name.description }
    private var here: BlobVisibility { .hosted(repository: key) }
    private var local: PlacedBlobs { PlacedBlobs(store: registry.blobs, visibility: registry.visibility, place: here) }

    // MARK: Reading

    public func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent {
        let digest: Digest
        switch reference {
        case .digest(let d): digest = d
        case .tag(let tag):
            guard let d = try await registry.repositories.repositoryTag(key, tag) else {
                throw RegistryError(.manifestUnknown, "manifest unknown to registry")
            }
            digest = d
        }
        guard let record = try await registry.repositories.repositoryManifest(key, digest) else {
            throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        guard wantBody else { return ManifestContent(record: record, bytes: nil) }
        guard let bytes = try await registry.blobs.readAll(digest, limit: registry.manifestLimit) else {
            throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        return ManifestContent(record: record, bytes: bytes)
    }

    public func blob(_ digest: Digest) async throws -> BlobContent {
        try await local.content(digest)
    }

    public func blobSize(_ digest: Digest) async throws -> Int64 {
        try await local.requireSize(of: digest)
    }

    public func tags() async throws -> [String] {
        try await registry.repositories.repositoryTags(key)
    }

    public func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex {
        ReferrersIndex(entries: try await registry.repositories.referrers(key, subject: digest), artifactType: artifactType)
    }

    // MARK: Blob uploads

    public func startUpload() async throws -> String {
        try await registry.uploads.start(repository: key)
    }

    public func appendUpload<Body: AsyncSequence & Sendable>(_ session: String, start: Int64?, body: Body) async throws -> Int64
    where Body.Element == ByteBuffer {
        try await registry.uploads.append(session, repository: key, start: start, body: body)
    }

    public func uploadSize(_ session: String) async throws -> Int64? {
        try await registry.uploads.size(session, repository: key)
    }

    public func finishUpload<Body: AsyncSequence & Sendable>(_ session: String, start: Int64?, lastChunk: Body, digest: Digest) async throws
    where Body.Element == ByteBuffer {
        _ = try await registry.uploads.finish(session, repository: key, start: start, lastChunk: lastChunk, digest: digest)
        try await local.admit(digest)
    }

    public func cancelUpload(_ session: String) async throws -> Bool {
        try await registry.uploads.cancel(session, repository: key)
    }

    /// Mounts are only from repositories of the same app: anything else would copy content
    /// across the app boundary. Without a source there is nothing to mount from.
    public func mount(_ digest: Digest, from source: RepositoryName?) async throws -> Bool {
        guard let source, source.components.first == name.components.first,
              try await registry.repository(source).local.size(of: digest) != nil else { return false }
        try await local.admit(digest)
        return true
    }

    public func deleteBlob(_ digest: Digest) async throws {
        guard try await registry.visibility.hide(digest, in: here) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
    }

    // MARK: Manifests

    /// Validates and stores a manifest, bytes as received. Every blob and child manifest it
    /// names must already be in this repository, except non-distributable layers (whose
    /// content is never pushed) and the `subject` (which may arrive later, or never).
    public func putManifest(_ reference: ManifestReference, bytes: ByteBuffer, contentType: String?) async throws -> StoredManifest {
        guard bytes.readableBytes <= registry.manifestLimit else {
            throw RegistryError(.tooLarge, "manifest larger than \(registry.manifestLimit) bytes")
        }
        let summary = try ManifestSummary(parsing: bytes.readableBytesView, contentType: contentType)
        let digest: Digest
        switch reference {
        case .digest(let claimed):
            digest = Digest.of(bytes, algorithm: claimed.algorithm)
            guard claimed == digest else { throw RegistryError(.digestInvalid, "manifest content does not match digest \(claimed)") }
        case .tag:
            digest = Digest.of(bytes)
        }
        // Renewed, not just checked: garbage collection spares a blob for its grace period after
        // a manifest names it, so it cannot go between this check and the manifest landing.
        for blob in summary.requiredBlobDigests where try await !registry.visibility.renewVisible(blob, in: here) {
            throw RegistryError(.manifestBlobUnknown, "blob \(blob) is not in this repository; push it first")
        }
        // Every client checks a blob against the size its descriptor gives: a wrong one would make
        // an image nobody can pull.
        for descriptor in summary.sizedBlobDescriptors {
            if let stored = try await registry.blobs.size(of: descriptor.digest), stored != descriptor.size {
                throw RegistryError(.manifestInvalid, "blob \(descriptor.digest) is \(stored) bytes; the manifest says \(descriptor.size)")
            }
        }
        for child in summary.manifests where try await registry.repositories.repositoryManifest(key, child.digest) == nil {
            throw RegistryError(.manifestBlobUnknown, "manifest \(child.digest) is not in this repository; push it first")
        }
        let record = ManifestRecord(digest: digest, mediaType: summary.mediaType, size: Int64(bytes.readableBytes))
        try await registry.blobs.put(bytes, as: digest)
        let referrer = summary.subject.map {
            ReferrerFacts(subject: $0.digest, artifactType: summary.referrerArtifactType, annotations: summary.annotations)
        }
        try await registry.repositories.putRepositoryManifest(key, record, referrer: referrer)
        // Registries also serve a manifest's bytes as a blob of its repository.
        try await local.admit(digest)
        if case .tag(let tag) = reference {
            try await registry.repositories.putRepositoryTag(key, tag, digest)
        }
        return StoredManifest(record: record, subject: summary.subject?.digest)
    }

    /// Deletes a manifest (by digest, with its tags) or just a tag.
    public func deleteManifest(_ reference: ManifestReference) async throws {
        let found: Bool
        switch reference {
        case .digest(let d): found = try await registry.repositories.deleteRepositoryManifest(key, d)
        case .tag(let t): found = try await registry.repositories.deleteRepositoryTag(key, t)
        }
        guard found else { throw RegistryError(.manifestUnknown, "manifest unknown to registry") }
    }
}
