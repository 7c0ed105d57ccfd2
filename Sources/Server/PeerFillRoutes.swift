import AsyncHTTPClient
import Foundation
import Access
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI
import Proxy
import Synchronization
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
            guard let fill = await c.blobCache.runningFill(digest, patience: PeerFillClient.holderPatience) else {
                return Response.registryError(RegistryError(.blobUnknown, "no fill of this blob is running on this replica"))
            }
            // From the first byte, as a follower here gets it: the last byte waits for the digest.
            return try await BlobResponder(request: request, digest: digest, sendfile: c.sendfile).respond(.arriving(fill))
        }
    }
}

/// Asks the replica holding a digest's lease for its fill (`PeerFillRoutes` there).
///
/// A replica it cannot reach (a network policy between pods, a dead holder whose lease has
/// not run out) is left alone for `restAfterFailure`, for every fill: the waits go on polling
/// the lease without spending seconds on connections that will not come, and the log says so
/// once per rest rather than at every poll.
final class PeerFillClient: PeerFills {
    static let passField = HTTPField.Name(PeerPass.header)!
    let http: HTTPClient
    let pass: PeerPass
    let logger: Logger
    /// How long to wait for the peer's answer head; the body then streams as its fill arrives.
    /// (The head waits for the holder's upstream head: a slow one is asked for again later.)
    let answerTimeout: TimeAmount
    let restAfterFailure: TimeInterval
    /// How long a holder that has taken the lease waits for its own fill to start before
    /// answering that none runs: well inside `answerTimeout`.
    static let holderPatience: Duration = .seconds(1)
    private let resting = Mutex<[String: Date]>([:])

    init(http: HTTPClient, pass: PeerPass, logger: Logger, answerTimeout: TimeAmount = .seconds(2), restAfterFailure: TimeInterval = 30) {
        self.http = http
        self.pass = pass
        self.logger = logger
        self.answerTimeout = answerTimeout
        self.restAfterFailure = restAfterFailure
    }

    /// Whether `peer` is being left alone after a failed connection.
    func isResting(_ peer: String, now: Date = Date()) -> Bool {
        resting.withLock { ($0[peer] ?? .distantPast) > now }
    }

    func open(_ digest: Digest, from peer: String) async -> UpstreamBlob? {
        guard !isResting(peer) else { return nil }
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
        } catch where Task.isCancelled {
            // This request's client went away: nothing is known about the peer.
            return nil
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            // Reachable, but its fill has no answer head yet (its upstream is slow): asked again later.
            return nil
        } catch {
            let until = Date().addingTimeInterval(restAfterFailure)
            resting.withLock { $0[peer] = until }
            logger.notice("could not reach the replica filling a blob; waiting for it to publish, and not asking it again for a while",
                          metadata: ["peer": "\(peer)", "digest": "\(digest)", "error": "\(error)",
                                     "seconds": "\(Int(restAfterFailure))"])
            return nil
        }
    }
}
