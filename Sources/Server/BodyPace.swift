import Connectivity
import Hummingbird
import NIOCore

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
        Iterator(parts: Parts(base.makeAsyncIterator()), channel: channel, pace: pace, started: .now)
    }

    struct Iterator: AsyncIteratorProtocol {
        let parts: Parts
        let channel: any Channel
        let pace: BodyPace
        let started: ContinuousClock.Instant
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            let patience = pace.patience(received: received, elapsed: .now - started)
            let parts = self.parts, channel = self.channel
            let part = try await withDeadline(patience, timedOut: {
                // Closing ends the wait for the next part too, which goes on without us.
                channel.close(promise: nil)
                return BodyTooSlow()
            }) { try await parts.next() }
            received += part?.readableBytes ?? 0
            return part
        }
    }

    /// The base iterator, handed to the task that waits on it. Parts are asked for one at a
    /// time, so it is never used by two tasks at once.
    final class Parts: @unchecked Sendable {
        private var iterator: RequestBody.AsyncIterator

        init(_ iterator: RequestBody.AsyncIterator) { self.iterator = iterator }

        func next() async throws -> ByteBuffer? { try await iterator.next() }
    }
}
