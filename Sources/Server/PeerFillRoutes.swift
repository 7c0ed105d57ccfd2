import AsyncHTTPClient
import Access
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI
import Proxy
import Upstream

/// The route a replica streams another replica's fill from, while that replica is still
/// fetching the blob upstream. Only replicas of this deployment get in (`PeerPass`), and only
/// for a fill running here: what is stored, they read from the object store themselves.
struct PeerFillRoutes {
    static let prefix = "/internal/peer/fills/"
    let c: Components

    func register(on router: Router<PortcullisContext>) {
        router.get(RouterPath(Self.prefix + ":digest")) { request, context in
            guard let text = context.parameters.get("digest"), let digest = try? Digest(parsing: text) else {
                return Response.registryError(RegistryError(.digestInvalid, "invalid digest"))
            }
            guard c.peerPass.admits(request.headers[PeerFillClient.passField], for: digest) else {
                return Response.registryError(RegistryError(.denied, "this route is for the replicas of this deployment", status: 403))
            }
            guard let fill = await c.blobCache.runningFill(digest) else {
                return Response.registryError(RegistryError(.blobUnknown, "no fill of this blob is running on this replica"))
            }
            // From the first byte, as a follower here gets it: the last byte waits for the digest.
            return try await BlobResponder(request: request, digest: digest, sendfile: c.sendfile).respond(.arriving(fill))
        }
    }
}

/// Asks the replica holding a digest's lease for its fill (`PeerFillRoutes` there).
struct PeerFillClient: PeerFills {
    static let passField = HTTPField.Name(PeerPass.header)!
    let http: HTTPClient
    let pass: PeerPass
    let logger: Logger
    /// How long to wait for the peer's answer head; the body then streams as its fill arrives.
    var answerTimeout: TimeAmount = .seconds(5)

    func open(_ digest: Digest, from peer: String) async -> UpstreamBlob? {
        var request = HTTPClientRequest(url: peer + PeerFillRoutes.prefix + digest.description)
        request.headers.add(name: PeerPass.header, value: pass.pass(for: digest))
        do {
            let response = try await http.execute(request, timeout: answerTimeout)
            guard response.status == .ok else {
                if response.status != .notFound {
                    logger.warning("a replica refused to stream its fill", metadata: [
                        "peer": "\(peer)", "digest": "\(digest)", "status": "\(response.status.code)"])
                }
                _ = try? await response.body.collect(upTo: 64 << 10)
                return nil
            }
            return UpstreamBlob(length: response.headers.first(name: "Content-Length").flatMap { Int64($0) },
                                body: UpstreamBody(response.body))
        } catch {
            logger.notice("could not reach the replica filling a blob; waiting for it to publish", metadata: [
                "peer": "\(peer)", "digest": "\(digest)", "error": "\(error)"])
            return nil
        }
    }
}
