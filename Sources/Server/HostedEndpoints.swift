import Access
import Foundation
import HTTPTypes
import Hosting
import Hummingbird
import Licensing
import NIOCore
import OCI
import Storage

/// Repositories outside `proxy/`: chart repositories (`<app>/<channel>/<chart>`,
/// `<app>/<chart>` for Stable) and vendor-pushed repositories (`<app>/<repo>`).
struct HostedEndpoints {
    let c: Components

    func handle(_ request: Request, path: RegistryPath, name: RepositoryName, caller: Caller,
                address: PublicAddress, outcome: inout RegistryEndpoints.Outcome) async throws -> Response {
        let parts = name.components.map(String.init)
        guard let app = try await c.store.app(slug: parts[0]) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        if let charts = try await c.catalog.chartRepository(appID: app.id, path: Array(parts.dropFirst())) {
            return try await chart(request, path: path, name: name, repository: charts, caller: caller, address: address, outcome: &outcome)
        }
        return try await hosted(request, path: path, name: name.description, outcome: &outcome)
    }

    // MARK: Charts

    private func chart(_ request: Request, path: RegistryPath, name: RepositoryName, repository: ChartRepository, caller: Caller,
                       address: PublicAddress, outcome: inout RegistryEndpoints.Outcome) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw RegistryError(.unsupported, "charts are published with `portcullis release create`, not pushed")
        }
        let recipient = try await recipient(caller.principal, repository: repository, address: address)
        let head = request.method == .head
        switch path {
        case .manifest(_, let reference):
            outcome.action = "chart"
            outcome.reference = reference.description
            let record: ManifestRecord
            let bytes: ByteBuffer
            switch reference {
            case .tag(let version):
                guard let chart = repository.versions[version] else {
                    throw RegistryError(.manifestUnknown, "chart version \(version) is not on this channel")
                }
                (record, bytes) = try await c.delivery.artifact(chart, repository: name.description, for: recipient)
            case .digest(let digest):
                guard try await c.delivery.isDelivered(digest, repository: name.description, to: recipient),
                      let found = try await c.store.manifest(digest),
                      let stored = try await c.blobs.readAll(digest, limit: c.configuration.manifestLimit) else {
                    throw RegistryError(.manifestUnknown, "manifest unknown to registry")
                }
                (record, bytes) = (found, stored)
            }
            return manifestResponse(record, body: head ? nil : bytes)
        case .blob(_, let digest):
            outcome.action = "blob"
            outcome.reference = digest.description
            guard try await c.delivery.isDelivered(digest, repository: name.description, to: recipient),
                  let reader = try await c.blobs.open(digest) else {
                throw RegistryError(.blobUnknown, "blob unknown to registry")
            }
            if head { return Response(status: .ok, headers: blobHeaders(digest, length: reader.length), body: .init()) }
            return try await BlobResponder(request: request, digest: digest, sendfile: c.sendfile).respond(.stored(reader))
        case .tags:
            outcome.action = "tags"
            return try RegistryEndpoints.tagListResponse(Array(repository.versions.keys), request: request, name: name)
        case .referrers:
            return emptyReferrers()
        case .base, .uploads, .upload:
            throw RegistryError(.unsupported, "charts are published with `portcullis release create`, not pushed")
        }
    }

    /// Vendors get the chart as released; customers get it with their license injected,
    /// and only from their own channel and with the Helm entitlement.
    private func recipient(_ principal: Principal, repository: ChartRepository, address: PublicAddress) async throws -> ChartDelivery.Recipient {
        switch principal {
        case .vendor:
            return .vendor
        case .customer(let license):
            guard license.helmInstall else { throw GateRefusal.denied("license does not include Helm installs") }
            guard license.channel.lowercased() == repository.channel.name.lowercased()
                    || license.channel.lowercased() == repository.channel.slug else {
                throw GateRefusal.denied("license is for the \(license.channel) channel")
            }
            guard let record = try await c.store.customer(id: license.customerID) else { throw GateRefusal.unauthorized("invalid license") }
            let licenseID = try c.secrets.open(record.sealedLicense)
            return .customer(license, licenseID: licenseID,
                             pullSecret: PullSecret.dockerConfigJSONBase64(host: address.host, licenseID: licenseID),
                             channelName: repository.channel.name)
        }
    }

    // MARK: Vendor-pushed repositories

    private func hosted(_ request: Request, path: RegistryPath, name: String, outcome: inout RegistryEndpoints.Outcome) async throws -> Response {
        let hosted = c.hosted
        let head = request.method == .head
        switch (path, request.method) {
        case (.manifest(_, let reference), .get), (.manifest(_, let reference), .head):
            outcome.action = "manifest"
            outcome.reference = reference.description
            let (record, bytes) = try await hosted.manifest(name, reference, wantBody: !head)
            return manifestResponse(record, body: bytes)

        case (.manifest(_, let reference), .put):
            outcome.action = "push-manifest"
            outcome.reference = reference.description
            let limit = c.configuration.manifestLimit
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw RegistryError(.tooLarge, "manifest larger than \(limit) bytes")
            }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: limit) } catch {
                throw RegistryError(.tooLarge, "manifest larger than \(limit) bytes")
            }
            let record = try await hosted.putManifest(name, reference: reference, bytes: body, contentType: request.headers[.contentType])
            return Response(status: .created, headers: [
                .location: "/v2/\(name)/manifests/\(record.digest)", dockerContentDigest: record.digest.description, .contentLength: "0",
            ])

        case (.manifest(_, let reference), .delete):
            outcome.action = "delete"
            outcome.reference = reference.description
            try await hosted.delete(name, reference)
            return Response(status: .accepted, headers: [.contentLength: "0"])

        case (.blob(_, let digest), .get), (.blob(_, let digest), .head):
            outcome.action = "blob"
            outcome.reference = digest.description
            let reader = try await hosted.blob(name, digest)
            if head { return Response(status: .ok, headers: blobHeaders(digest, length: reader.length), body: .init()) }
            return try await BlobResponder(request: request, digest: digest, sendfile: c.sendfile).respond(.stored(reader))

        case (.blob, .delete):
            throw RegistryError(.unsupported, "blobs are removed with the manifests that use them")

        case (.uploads, .post):
            outcome.action = "push-blob"
            return try await startUpload(request, name: name)

        case (.upload(_, let session), .patch):
            outcome.action = "push-blob"
            let start = Self.contentRangeStart(request.headers[.contentRange])
            let size = try await hosted.uploads.append(session, repository: name, start: start, body: request.body)
            return uploadResponse(.accepted, name: name, session: session, size: size)

        case (.upload(_, let session), .put):
            outcome.action = "push-blob"
            guard let digestText = request.uri.queryParameters["digest"] else {
                throw RegistryError(.digestInvalid, "digest query parameter required to finish an upload")
            }
            let digest = try Digest(parsing: String(digestText))
            outcome.reference = digest.description
            _ = try await hosted.uploads.append(session, repository: name, start: nil, body: request.body)
            try await hosted.finishUpload(session, repository: name, digest: digest)
            return blobCreated(name: name, digest: digest)

        case (.upload(_, let session), .get):
            guard let size = await hosted.uploads.size(session, repository: name) else {
                throw RegistryError(.blobUploadUnknown, "upload unknown to registry")
            }
            return uploadResponse(.noContent, name: name, session: session, size: size)

        case (.upload(_, let session), .delete):
            guard await hosted.uploads.cancel(session, repository: name) else {
                throw RegistryError(.blobUploadUnknown, "upload unknown to registry")
            }
            return Response(status: .noContent)

        case (.tags, .get):
            outcome.action = "tags"
            let tags = try await hosted.tags(name)
            return try RegistryEndpoints.tagListResponse(tags, request: request, name: try RepositoryName(parsing: name))

        case (.referrers, .get):
            return emptyReferrers()

        default:
            throw RegistryError(.unsupported, "method not supported on this endpoint")
        }
    }

    private func startUpload(_ request: Request, name: String) async throws -> Response {
        let query = request.uri.queryParameters
        if let mount = query["mount"], let from = query["from"] {
            let digest = try Digest(parsing: String(mount))
            let source = try RepositoryName(parsing: String(from))
            // Mounting from another app's repository would copy across the app boundary.
            if AccessPolicy.appSlug(of: source) == AccessPolicy.appSlug(of: try RepositoryName(parsing: name)),
               try await c.hosted.mount(digest, from: source.description, into: name) {
                return blobCreated(name: name, digest: digest)
            }
        }
        let session = try await c.hosted.uploads.start(repository: name)
        if let digestText = query["digest"] {
            // Monolithic upload: the whole blob in this POST.
            let digest = try Digest(parsing: String(digestText))
            _ = try await c.hosted.uploads.append(session, repository: name, start: nil, body: request.body)
            try await c.hosted.finishUpload(session, repository: name, digest: digest)
            return blobCreated(name: name, digest: digest)
        }
        return uploadResponse(.accepted, name: name, session: session, size: 0)
    }

    private func uploadResponse(_ status: HTTPResponse.Status, name: String, session: String, size: Int64) -> Response {
        Response(status: status, headers: [
            .location: "/v2/\(name)/blobs/uploads/\(session)", .range: "0-\(max(size - 1, 0))",
            dockerUploadUUID: session, .contentLength: "0",
        ])
    }

    private func blobCreated(name: String, digest: Digest) -> Response {
        Response(status: .created, headers: [
            .location: "/v2/\(name)/blobs/\(digest)", dockerContentDigest: digest.description, .contentLength: "0",
        ])
    }

    private func manifestResponse(_ record: ManifestRecord, body: ByteBuffer?) -> Response {
        Response(status: .ok, headers: [
            .contentType: record.mediaType, .contentLength: String(record.size),
            dockerContentDigest: record.digest.description, .eTag: "\"\(record.digest)\"",
        ], body: body.map { .init(byteBuffer: $0) } ?? .init())
    }

    private func emptyReferrers() -> Response {
        Response(status: .ok, headers: [.contentType: ManifestMediaType.ociIndex], body: .init(byteBuffer: ByteBuffer(
            string: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#)))
    }

    /// `Content-Range: <start>-<end>` on a PATCH (no `bytes ` unit, per the distribution spec).
    static func contentRangeStart(_ header: String?) -> Int64? {
        guard let header else { return nil }
        let value = header.hasPrefix("bytes ") ? header.dropFirst(6) : Substring(header)
        return value.split(separator: "-").first.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }
}

let dockerUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
