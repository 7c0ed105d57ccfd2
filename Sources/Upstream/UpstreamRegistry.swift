import Foundation
import NIOCore
import OCI

/// What a manifest HEAD upstream says.
public struct UpstreamManifestHead: Sendable, Equatable {
    public var digest: Digest?
    public var mediaType: String?
    public var size: Int64?

    public init(digest: Digest?, mediaType: String?, size: Int64?) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
    }
}

/// A manifest fetched from upstream, bytes as received.
public struct UpstreamManifest: Sendable {
    public var bytes: ByteBuffer
    public var mediaType: String?
    /// `Docker-Content-Digest`, when the upstream sent one.
    public var digestHeader: Digest?

    public init(bytes: ByteBuffer, mediaType: String?, digestHeader: Digest? = nil) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.digestHeader = digestHeader
    }
}

/// A blob download under way: its declared length, if any, and its bytes.
public struct UpstreamBlob: Sendable {
    public var length: Int64?
    public var body: UpstreamBody

    public init(length: Int64?, body: UpstreamBody) {
        self.length = length
        self.body = body
    }
}

/// One page of an upstream tag list, and the query for the next page if there is one.
public struct UpstreamTagPage: Sendable, Equatable {
    public var tags: [String]
    public var next: [UpstreamQueryItem]?

    public init(tags: [String], next: [UpstreamQueryItem]?) {
        self.tags = tags
        self.next = next
    }
}

public struct UpstreamQueryItem: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The distribution API of a vendor's registry, as the proxy uses it. `HTTPUpstreamRegistry`
/// is the real one; tests substitute their own.
public protocol UpstreamRegistry: Sendable {
    func manifestHead(_ target: UpstreamTarget, repository: String, reference: String) async throws -> UpstreamManifestHead
    func manifest(_ target: UpstreamTarget, repository: String, reference: String, limit: Int) async throws -> UpstreamManifest
    /// Starts a blob download. The caller must consume or drain the body.
    func blob(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> UpstreamBlob
    /// The blob's size, or nil when the upstream says it is not there.
    func blobSize(_ target: UpstreamTarget, repository: String, digest: Digest) async throws -> Int64?
    func tagPage(_ target: UpstreamTarget, repository: String, query: [UpstreamQueryItem]) async throws -> UpstreamTagPage
    /// The referrers index as the upstream sent it, or nil when it has none (404).
    func referrers(_ target: UpstreamTarget, repository: String, digest: Digest, artifactType: String?) async throws -> ByteBuffer?
    /// Checks that the endpoint answers as a registry and the credentials work.
    func ping(_ target: UpstreamTarget, repository: String) async throws
    /// Drops every token and login kept for a registry (its credentials were replaced).
    func forgetLogins(registry id: String) async
}

extension UpstreamRegistry {
    public func forgetLogins(registry id: String) async {}

    /// Every tag of an upstream repository, following the upstream's own pagination.
    /// Sorting and paging for the client happen in Portcullis, since registries differ in
    /// whether they honour `n` and in the order they return.
    public func allTags(_ target: UpstreamTarget, repository: String, maxPages: Int = 50) async throws -> [String] {
        var all: [String] = []
        var query: [UpstreamQueryItem] = []
        for _ in 0..<maxPages {
            let page = try await tagPage(target, repository: repository, query: query)
            all += page.tags
            guard let next = page.next else { break }
            query = next
        }
        return all
    }
}
