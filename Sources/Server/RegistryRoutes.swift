import Access
import Foundation
import HTTPTypes
import Hummingbird
import Licensing
import NIOCore
import OCI
import RegistryCore
import Storage
import Tracing

/// The distribution API. A request is parsed, its caller authenticated, its repository
/// resolved (which is where every access decision is made), and then served by the one
/// switch below, whatever kind of repository it is.
struct RegistryRoutes: Sendable {
    let c: Components

    /// The distribution API's methods: every `/v2` path is routed for each.
    static let methods: [HTTPRequest.Method] = [.get, .head, .put, .post, .patch, .delete]

    func register(on router: Router<PortcullisContext>) {
        let v2 = router.group("/v2").add(middleware: RegistryRequestMiddleware(c: c))
        for path: RouterPath in ["", "**"] {
            for method in Self.methods {
                v2.on(path, method: method, use: handle)
            }
        }
    }

    @Sendable func handle(_ request: Request, context: PortcullisContext) async throws -> Response {
        let outcome = context.outcome
        let address = try await PublicAddress.of(request, configuration: c.configuration, domains: c.domains)
        outcome.update { $0.address = address }
        if request.uri.path == "/v2/token" {
            outcome.update { $0.action = "token" }
            return try await TokenEndpoint(c: c).issue(request, context: context, address: address)
        }
        let path: RegistryPath
        do {
            guard let parsed = try RegistryPath.parse(request.uri.path) else {
                throw RegistryError(.nameUnknown, "no such registry endpoint")
            }
            path = parsed
        } catch let error as RegistryError where error.code == .tagInvalid && request.method != .put {
            // A tag that cannot exist names no manifest.
            throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        guard let name = path.repository else {
            let caller = try await authenticate(request, context: context, address: address)
            try c.resolver.admit(caller.principal)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let access = try Self.accessRequest(path, method: request.method, request: request, name: name)
        outcome.update {
            $0.repository = name.description
            $0.action = Self.actionLabel(path, method: request.method)
            $0.reference = Self.reference(path)
            $0.challengeScopes = access.challengeScopes
        }
        let repository = try await withSpan("authorize") { span in
            span.attributes["portcullis.repository"] = name.description
            span.attributes["portcullis.actions"] = access.actions.map(\.rawValue).joined(separator: ",")
            do {
                let caller = try await authenticate(request, context: context, address: address)
                // Who, by kind only: a span never carries a license ID or a customer's name.
                span.attributes["portcullis.principal"] = switch caller.principal {
                case .customer: "customer"
                case .vendor: "vendor"
                case .anonymous: "anonymous"
                }
                let resolved: ResolvedRepository
                if let namespace = request.uri.queryParameters["ns"] {
                    // A node mirror (containerd's hosts.toml) asking for the upstream's own name.
                    resolved = try await c.resolver.resolveMirrored(access, namespace: String(namespace), caller: caller,
                                                                    address: address.requestAddress)
                    outcome.update { $0.repository = "\(namespace)/\(name)" }
                } else {
                    resolved = try await c.resolver.resolve(access, caller: caller, address: address.requestAddress)
                }
                span.attributes["portcullis.decision"] = "allowed"
                span.attributes["portcullis.repository.kind"] = "\(resolved.kind)"
                return resolved
            } catch {
                span.attributes["portcullis.decision"] = "refused"
                throw error
            }
        }
        outcome.update {
            $0.appSlug = $0.appSlug ?? repository.appSlug
            if case .chart = repository.kind, case .manifest = path { $0.action = "chart" }
        }
        return try await serve(request, path: path, name: name, repository: repository, outcome: outcome)
    }

    private func serve(_ request: Request, path: RegistryPath, name: RepositoryName, repository: ResolvedRepository,
                       outcome: RequestOutcome) async throws -> Response {
        let reader = repository.reader
        let head = request.method == .head
        switch (path, request.method) {
        case (.manifest(_, let reference), .get), (.manifest(_, let reference), .head):
            return try RegistryResponses.manifest(try await reader.manifest(reference, wantBody: !head), head: head)

        case (.manifest(_, let reference), .put):
            let limit = c.configuration.manifestLimit
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw RegistryError(.tooLarge, "manifest larger than \(limit) bytes")
            }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: limit) } catch {
                throw RegistryError(.tooLarge, "manifest larger than \(limit) bytes")
            }
            let stored = try await writer(repository).putManifest(reference, bytes: body, contentType: request.headers[.contentType])
            return RegistryResponses.manifestCreated(stored, name: name)

        case (.manifest(_, let reference), .delete):
            try await writer(repository).deleteManifest(reference)
            return RegistryResponses.accepted()

        case (.blob(_, let digest), .get):
            let content = try await reader.blob(digest)
            if case .complete = content, let redirect = c.blobRedirect {
                // Stored in the object store: let the client fetch it from there.
                return RegistryResponses.redirect(to: redirect(digest), digest: digest)
            }
            return try await BlobResponder(request: request, digest: digest, sendfile: c.sendfile, usage: c.cacheUsage).respond(content)

        case (.blob(_, let digest), .head):
            return RegistryResponses.blobHead(digest, length: try await reader.blobSize(digest))

        case (.blob(_, let digest), .delete):
            try await writer(repository).deleteBlob(digest)
            return RegistryResponses.accepted()

        case (.uploads, .post):
            return try await startUpload(request, name: name, writer: try writer(repository))

        case (.upload(_, let session), .patch):
            let size = try await writer(repository).appendUpload(session, start: Self.contentRangeStart(request.headers[.contentRange]),
                                                                 body: request.body)
            return RegistryResponses.upload(.accepted, session: session, size: size, name: name)

        case (.upload(_, let session), .put):
            guard let digestText = request.uri.queryParameters["digest"] else {
                throw RegistryError(.digestInvalid, "digest query parameter required to finish an upload")
            }
            let digest = try Digest(parsing: String(digestText))
            outcome.update { $0.reference = digest.description }
            let writer = try writer(repository)
            try await writer.finishUpload(session, start: Self.contentRangeStart(request.headers[.contentRange]), lastChunk: request.body,
                                          digest: digest)
            return RegistryResponses.blobCreated(digest, name: name)

        case (.upload(_, let session), .get):
            guard let size = try await writer(repository).uploadSize(session) else {
                throw RegistryError(.blobUploadUnknown, "upload unknown to registry")
            }
            return RegistryResponses.upload(.noContent, session: session, size: size, name: name)

        case (.upload(_, let session), .delete):
            guard try await writer(repository).cancelUpload(session) else {
                throw RegistryError(.blobUploadUnknown, "upload unknown to registry")
            }
            return Response(status: .noContent)

        case (.tags, .get):
            // The page size is checked before any repository (or its upstream) is asked.
            let page = try RegistryResponses.tagPageRequest(request)
            return RegistryResponses.tags(try await reader.tags(), page: page, name: name)

        case (.referrers(_, let digest), .get):
            let artifactType = request.uri.queryParameters["artifactType"].map(String.init)
            return RegistryResponses.referrers(try await reader.referrers(digest, artifactType: artifactType))

        default:
            throw RegistryError(.unsupported, "method not supported on this endpoint")
        }
    }

    private func startUpload(_ request: Request, name: RepositoryName, writer: any RepositoryWriter) async throws -> Response {
        let query = request.uri.queryParameters
        if let mount = query["mount"] {
            let digest = try Digest(parsing: String(mount))
            let source = try query["from"].map { try RepositoryName(parsing: String($0)) }
            if try await writer.mount(digest, from: source) {
                return RegistryResponses.blobCreated(digest, name: name)
            }
        }
        // Monolithic upload: the whole blob in this POST.
        let monolithic = try query["digest"].map { try Digest(parsing: String($0)) }
        let session = try await writer.startUpload()
        if let digest = monolithic {
            do {
                try await writer.finishUpload(session, start: nil, lastChunk: request.body, digest: digest)
            } catch {
                // The client never learnt this session's URL, so nothing could resume it.
                _ = try? await writer.cancelUpload(session)
                if let refusal = error as? RegistryError, refusal.code == .blobUploadInvalid {
                    throw RegistryError(.blobUploadInvalid, "upload interrupted before the whole blob arrived; send it again")
                }
                throw error
            }
            return RegistryResponses.blobCreated(digest, name: name)
        }
        return RegistryResponses.upload(.accepted, session: session, size: 0, name: name)
    }

    private func writer(_ repository: ResolvedRepository) throws -> any RepositoryWriter {
        guard let writer = repository.writer else { throw RegistryError(.unsupported, "this repository is read-only") }
        return writer
    }

    /// Checks the credentials; failed attempts count toward the login throttle.
    private func authenticate(_ request: Request, context: PortcullisContext, address: PublicAddress) async throws -> Caller {
        let header = request.headers[.authorization]
        let caller: Caller
        do {
            caller = try await c.gate.authenticate(authorization: header, service: address.service)
        } catch let refusal as AccessRefusal where header != nil {
            try await LoginThrottling(c: c).recordFailure(request, context: context)
            throw refusal
        }
        if case .customer(let license) = caller.principal {
            context.outcome.update {
                $0.customerID = license.customerID
                $0.appSlug = license.appSlug
            }
        }
        if caller.principal != .anonymous { context.outcome.update { $0.proved = true } }
        if caller.principal == .anonymous { try AnonymousAccess(c: c).admit(context) }
        return caller
    }

    // MARK: What a request is

    /// The actions a request needs; a 401 challenges for exactly these.
    static func accessRequest(_ path: RegistryPath, method: HTTPRequest.Method, request: Request, name: RepositoryName) throws -> AccessRequest {
        switch (path, method) {
        case (.upload, _), (.uploads, _):
            let source = try request.uri.queryParameters["from"].map { try RepositoryName(parsing: String($0)) }
            return AccessRequest(name: name, actions: [.pull, .push], mountSource: request.uri.queryParameters["mount"] == nil ? nil : source)
        case (_, .get), (_, .head):
            return AccessRequest(name: name, actions: [.pull])
        case (_, .delete):
            return AccessRequest(name: name, actions: [.delete])
        default:
            return AccessRequest(name: name, actions: [.pull, .push])
        }
    }

    static func actionLabel(_ path: RegistryPath, method: HTTPRequest.Method) -> String {
        switch (path, method) {
        case (.base, _): "ping"
        case (.manifest, .put): "push-manifest"
        case (.manifest, .delete), (.blob, .delete): "delete"
        case (.manifest, _): "manifest"
        case (.blob, _): "blob"
        case (.tags, _): "tags"
        case (.referrers, _): "referrers"
        case (.uploads, _), (.upload, _): "push-blob"
        }
    }

    static func reference(_ path: RegistryPath) -> String {
        switch path {
        case .manifest(_, let reference): reference.description
        case .blob(_, let digest), .referrers(_, let digest): digest.description
        default: ""
        }
    }

    /// `Content-Range: <start>-<end>` on a PATCH or final PUT (no `bytes ` unit, per the distribution
    /// spec, though the unit is taken too); one that is not a range is refused with 416, as an
    /// out-of-order one is, rather than taken as no range at all.
    static func contentRangeStart(_ header: String?) throws(RegistryError) -> Int64? {
        guard let header else { return nil }
        let value = (header.hasPrefix("bytes ") ? header.dropFirst(6) : Substring(header)).trimmingCharacters(in: .whitespaces)
        let bounds = value.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int64(bounds[0]), let end = Int64(bounds[1]), start >= 0, end >= start else {
            throw RegistryError(.rangeInvalid, "Content-Range must be <start>-<end>, got \(header.prefix(64).debugDescription)")
        }
        return start
    }
}
