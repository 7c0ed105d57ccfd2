import HTTPTypes
import Hummingbird
import NIOCore
import OCI
import RegistryCore
import Storage

/// Every header set the distribution API answers with, built in one place.
enum RegistryResponses {
    /// A manifest goes out only with a manifest media type: anything else stored (by a version
    /// before upstream answers were checked) is not served, since a browser would render it.
    static func manifest(_ content: ManifestContent, head: Bool) throws -> Response {
        guard ManifestMediaType.all.contains(content.record.mediaType) else {
            throw RegistryError(.manifestUnknown, "the stored manifest has no manifest media type; it is not served")
        }
        var headers: HTTPFields = [
            .contentType: content.record.mediaType,
            .contentLength: String(content.record.size),
            .dockerContentDigest: content.record.digest.description,
            .eTag: "\"\(content.record.digest)\"",
        ]
        if content.stale { headers[.warning] = "110 - \"response is stale\"" }
        let body: ResponseBody = head ? .init() : content.bytes.map { .init(byteBuffer: $0) } ?? .init()
        return Response(status: .ok, headers: headers, body: body)
    }

    static func manifestCreated(_ stored: StoredManifest, name: RepositoryName) -> Response {
        var headers: HTTPFields = [
            .location: "/v2/\(name)/manifests/\(stored.record.digest)",
            .dockerContentDigest: stored.record.digest.description,
            .contentLength: "0",
        ]
        if let subject = stored.subject { headers[.ociSubject] = subject.description }
        return Response(status: .created, headers: headers)
    }

    static func blobHeaders(_ digest: Digest, length: Int64) -> HTTPFields {
        [
            .contentType: "application/octet-stream",
            .contentLength: String(length),
            .dockerContentDigest: digest.description,
            .acceptRanges: "bytes",
            .eTag: "\"\(digest)\"",
            .cacheControl: "max-age=31536000",
        ]
    }

    static func blobHead(_ digest: Digest, length: Int64) -> Response {
        Response(status: .ok, headers: blobHeaders(digest, length: length))
    }

    /// A blob served from elsewhere (a presigned object-store URL); short-lived, so never cached.
    static func redirect(to url: String, digest: Digest) -> Response {
        Response(status: .temporaryRedirect, headers: [
            .location: url, .dockerContentDigest: digest.description, .contentLength: "0", .cacheControl: "no-store",
        ])
    }

    static func blobCreated(_ digest: Digest, name: RepositoryName) -> Response {
        Response(status: .created, headers: [
            .location: "/v2/\(name)/blobs/\(digest)", .dockerContentDigest: digest.description, .contentLength: "0",
        ])
    }

    static func upload(_ status: HTTPResponse.Status, session: String, size: Int64, name: RepositoryName) -> Response {
        Response(status: status, headers: [
            .location: "/v2/\(name)/blobs/uploads/\(session)", .range: "0-\(max(size - 1, 0))",
            .dockerUploadUUID: session, .contentLength: "0",
        ])
    }

    static func accepted() -> Response {
        Response(status: .accepted, headers: [.contentLength: "0"])
    }

    /// `n` and `last` of a tag list request; a page size that is no count is refused.
    static func tagPageRequest(_ request: Request) throws -> (n: Int?, last: String?) {
        let query = request.uri.queryParameters
        let last = query["last"].map(String.init)
        guard let text = query["n"] else { return (nil, last) }
        guard let count = Int(text), count >= 0 else { throw RegistryError(.paginationNumberInvalid, "n must be a count of tags (0 or more)") }
        return (count, last)
    }

    /// A sorted page of tags with the `Link` to the next page.
    static func tags(_ all: [String], page request: (n: Int?, last: String?), name: RepositoryName) -> Response {
        let n = request.n
        let page = TagPage(all: all, n: n, last: request.last)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let link = page.link(name: name.description, n: n) { headers[.link] = link }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.json(name: name.description))))
    }

    static func referrers(_ index: ReferrersIndex) -> Response {
        var headers: HTTPFields = [.contentType: ManifestMediaType.ociIndex]
        if index.filteredByArtifactType { headers[.ociFiltersApplied] = "artifactType" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: index.json)))
    }
}

extension HTTPField.Name {
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let dockerUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
    static let dockerDistributionAPIVersion = HTTPField.Name("Docker-Distribution-API-Version")!
    static let ociSubject = HTTPField.Name("OCI-Subject")!
    static let ociFiltersApplied = HTTPField.Name("OCI-Filters-Applied")!
    static let warning = HTTPField.Name("Warning")!
    static let link = HTTPField.Name("Link")!
}
