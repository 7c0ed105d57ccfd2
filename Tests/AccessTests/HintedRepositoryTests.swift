import OCI
import RegistryCore
import Testing
@testable import Access

/// A repository that answers every read with one error.
private struct Failing: RepositoryReader {
    let error: RegistryError
    func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent { throw error }
    func blob(_ digest: Digest) async throws -> BlobContent { throw error }
    func blobSize(_ digest: Digest) async throws -> Int64 { throw error }
    func tags() async throws -> [String] { throw error }
    func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex { throw error }
}

@Suite struct HintedRepositoryTests {
    let hint = "images of upstream registries are pulled as proxy/acme/vendor-reg/org/api"

    @Test func notFoundAnswersSayWhatWasProbablyMeant() async throws {
        let repository = HintedRepository(Failing(error: RegistryError(.manifestUnknown, "manifest unknown"))) { hint }
        await #expect {
            try await repository.manifest(try ManifestReference(parsing: "1.0"), wantBody: true)
        } throws: { error in
            let registry = error as? RegistryError
            return registry?.code == .manifestUnknown && registry?.message == "manifest unknown; \(hint)"
        }
        let tags = HintedRepository(Failing(error: RegistryError(.nameUnknown, "name unknown"))) { hint }
        await #expect { try await tags.tags() } throws: { ($0 as? RegistryError)?.message.hasSuffix(hint) == true }
    }

    @Test func withNothingToSayTheAnswerIsUnchanged() async throws {
        let repository = HintedRepository(Failing(error: RegistryError(.manifestUnknown, "manifest unknown"))) { nil }
        await #expect { try await repository.tags() } throws: { ($0 as? RegistryError)?.message == "manifest unknown" }
    }

    @Test func otherErrorsPassUnchanged() async throws {
        let denied = RegistryError(.denied, "requested access to the resource is denied")
        let repository = HintedRepository(Failing(error: denied)) { hint }
        await #expect { try await repository.tags() } throws: { ($0 as? RegistryError) == denied }
    }
}
