import Foundation
import NIOCore
import OCI
import Storage

/// Repositories vendors push to: `<app>/<repo>`. Blobs go into the same content-addressed
/// store as the proxy cache and are linked to each repository that received or mounted them.
public struct HostedRegistry: Sendable {
    /// The link scope of hosted repositories in the shared blob-link index.
    public static let linkScope = "hosted"

    let repositories: any HostedRepositoryStore
    let links: any ProxyIndex
    public let blobs: any BlobStore
    public let uploads: UploadSessions
    let manifestLimit: Int

    public init(repositories: any HostedRepositoryStore, links: any ProxyIndex, blobs: any BlobStore, manifestLimit: Int = 4 << 20) {
        self.repositories = repositories
        self.links = links
        self.blobs = blobs
        self.uploads = UploadSessions(store: blobs)
        self.manifestLimit = manifestLimit
    }

    // MARK: Blobs

    public func blob(_ repository: String, _ digest: Digest) async throws -> any BlobReader {
        guard try await links.isLinked(registryID: Self.linkScope, repository: repository, digest: digest),
              let reader = try await blobs.open(digest) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
        return reader
    }

    /// Publishes a verified upload and links it here.
    public func finishUpload(_ id: String, repository: String, digest: Digest) async throws {
        _ = try await uploads.finish(id, repository: repository, digest: digest)
        try await links.link(registryID: Self.linkScope, repository: repository, digest: digest)
    }

    /// Cross-repository mount: true when the blob is now linked here without an upload.
    public func mount(_ digest: Digest, from source: String, into repository: String) async throws -> Bool {
        guard try await links.isLinked(registryID: Self.linkScope, repository: source, digest: digest),
              try await blobs.size(of: digest) != nil else { return false }
        try await links.link(registryID: Self.linkScope, repository: repository, digest: digest)
        return true
    }

    // MARK: Manifests

    /// Validates and stores a manifest; every blob and child manifest it names must already
    /// be in this repository.
    public func putManifest(_ repository: String, reference: ManifestReference, bytes: ByteBuffer, contentType: String?) async throws -> ManifestRecord {
        guard bytes.readableBytes <= manifestLimit else {
            throw RegistryError(.tooLarge, "manifest larger than \(manifestLimit) bytes")
        }
        let summary = try ManifestSummary(parsing: bytes.readableBytesView, contentType: contentType)
        let digest = bytes.withUnsafeReadableBytes { ptr in
            var h = DigestHasher()
            h.update(ptr)
            return h.finalize()
        }
        if case .digest(let claimed) = reference, claimed != digest {
            throw RegistryError(.digestInvalid, "manifest content does not match digest \(claimed)")
        }
        for blob in summary.blobDigests
        where try await !links.isLinked(registryID: Self.linkScope, repository: repository, digest: blob) {
            throw RegistryError(.manifestBlobUnknown, "blob \(blob) is not in this repository; push it first")
        }
        for child in summary.manifests where try await repositories.repositoryManifest(repository, child.digest) == nil {
            throw RegistryError(.manifestBlobUnknown, "manifest \(child.digest) is not in this repository; push it first")
        }
        let record = ManifestRecord(digest: digest, mediaType: summary.mediaType, size: Int64(bytes.readableBytes))
        try await blobs.put(bytes, as: digest)
        try await repositories.putRepositoryManifest(repository, record)
        // Registries also serve a manifest's bytes as a blob of its repository.
        try await links.link(registryID: Self.linkScope, repository: repository, digest: digest)
        if case .tag(let tag) = reference {
            try await repositories.putRepositoryTag(repository, tag, digest)
        }
        return record
    }

    public func manifest(_ repository: String, _ reference: ManifestReference, wantBody: Bool) async throws -> (ManifestRecord, ByteBuffer?) {
        let digest: Digest
        switch reference {
        case .digest(let d): digest = d
        case .tag(let tag):
            guard let d = try await repositories.repositoryTag(repository, tag) else {
                throw RegistryError(.manifestUnknown, "manifest unknown to registry")
            }
            digest = d
        }
        guard let record = try await repositories.repositoryManifest(repository, digest) else {
            throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        guard wantBody else { return (record, nil) }
        guard let bytes = try await blobs.readAll(digest, limit: manifestLimit) else {
            throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        return (record, bytes)
    }

    /// Deletes a manifest (by digest, with its tags) or just a tag.
    public func delete(_ repository: String, _ reference: ManifestReference) async throws {
        let found: Bool
        switch reference {
        case .digest(let d): found = try await repositories.deleteRepositoryManifest(repository, d)
        case .tag(let t): found = try await repositories.deleteRepositoryTag(repository, t)
        }
        guard found else { throw RegistryError(.manifestUnknown, "manifest unknown to registry") }
    }

    public func tags(_ repository: String) async throws -> [String] {
        try await repositories.repositoryTags(repository)
    }
}
