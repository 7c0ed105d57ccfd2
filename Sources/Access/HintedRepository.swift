import OCI
import RegistryCore

/// A repository whose "not found" answers also say what the caller probably meant, for a name
/// that reads like a mistake (a proxy path without its `proxy/` prefix). The hint is worked out
/// only when such an answer is given; everything else passes through unchanged.
struct HintedRepository: RepositoryReader {
    let base: any RepositoryReader
    /// What to add to a "not found" answer, or nil when there is nothing to say.
    let hint: @Sendable () async -> String?

    init(_ base: any RepositoryReader, hint: @escaping @Sendable () async -> String?) {
        self.base = base
        self.hint = hint
    }

    func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent {
        try await hinted { try await base.manifest(reference, wantBody: wantBody) }
    }

    func blob(_ digest: Digest) async throws -> BlobContent {
        try await hinted { try await base.blob(digest) }
    }

    func blobSize(_ digest: Digest) async throws -> Int64 {
        try await hinted { try await base.blobSize(digest) }
    }

    func tags() async throws -> [String] {
        try await hinted { try await base.tags() }
    }

    func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex {
        try await base.referrers(digest, artifactType: artifactType)
    }

    private func hinted<T>(_ read: () async throws -> T) async throws -> T {
        do {
            return try await read()
        } catch var error as RegistryError where [.manifestUnknown, .nameUnknown, .blobUnknown].contains(error.code) {
            if let hint = await hint() { error.message += "; \(hint)" }
            throw error
        }
    }
}
