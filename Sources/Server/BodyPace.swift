import Hummingbird
import NIOCore
import Synchronization

/// Request bodies must keep arriving: after a grace period, at least `minimumRate` bytes per
/// second on average, or the connection is closed. Without it a client sending a form one byte
/// every 20 s (the portal's sign-in takes bodies before anyone is known) holds its connection,
/// and its memory, for ever; the idle timeout never fires while bytes trickle in.
///
/// Blob uploads are left alone: they are authenticated first, and big layers over slow links
/// are what they are for.
struct BodyPaceMiddleware: RouterMiddleware {
    typealias Context = PortcullisContext
    var pace = BodyPace()

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        guard [.post, .put, .patch].contains(request.method), !request.uri.path.contains("/blobs/uploads/") else {
            return try await next(request, context)
        }
        var paced = request
        paced.body = RequestBody(asyncSequence: PacedBody(base: request.body, channel: context.channel, pace: pace))
        return try await next(paced, context)
    }
}

/// How fast a body must arrive: `minimumRate` bytes per second on average, after `grace`.
struct BodyPace: Sendable {
    var grace: Duration = .seconds(30)
    var minimumRate = 16 * 1024

    /// How long the part after `received` bytes may still take, `elapsed` after the body began.
    func patience(received: Int, elapsed: Duration) -> Duration {
        Swift.max(.zero, grace + .seconds(Double(received) / Double(minimumRate)) - elapsed)
    }
}

struct BodyTooSlow: Error, CustomStringConvertible {
    var description: String { "request body arrived too slowly" }
}

/// `base`, each part waited for only until the pace allows.
struct PacedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let channel: any Channel
    let pace: BodyPace

    func makeAsyncIterator() -> Iterator {
        Iterator(parts: base.makeAsyncIterator(), channel: channel, pace: pace, started: .now)
    }

    struct Iterator: AsyncIteratorProtocol {
        var parts: RequestBody.AsyncIterator
        let channel: any Channel
        let pace: BodyPace
        let started: ContinuousClock.Instant
        var received = 0

        /// The part is read here, never on another task: once time is up the connection is
        /// closed, which ends the read, and the read is over before this returns (Hummingbird
        /// drains what is left of the body after the handler, and a second reader traps).
        mutating func next() async throws -> ByteBuffer? {
            let patience = pace.patience(received: received, elapsed: .now - started)
            let expired = Expiry()
            let timer = Task { [channel] in
                try await Task.sleep(for: patience)
                expired.expire()
                channel.close(promise: nil)
            }
            defer { timer.cancel() }
            let part: ByteBuffer?
            do {
                part = try await parts.next()
            } catch {
                if expired.hasExpired { throw BodyTooSlow() }
                throw error
            }
            if expired.hasExpired { throw BodyTooSlow() }
            received += part?.readableBytes ?? 0
            return part
        }
    }

    final class Expiry: Sendable {
        private let expired = Mutex(false)
        func expire() { expired.withLock { $0 = true } }
        var hasExpired: Bool { expired.withLock { $0 } }
    }
}
