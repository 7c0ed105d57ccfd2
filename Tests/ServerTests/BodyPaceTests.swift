import Hummingbird
import NIOCore
import NIOEmbedded
import Testing
@testable import Server

@Suite struct BodyPaceTests {
    @Test func patienceGrowsWithWhatHasArrived() {
        let pace = BodyPace(grace: .seconds(30), minimumRate: 1000)
        #expect(pace.patience(received: 0, elapsed: .seconds(10)) == .seconds(20))
        #expect(pace.patience(received: 5000, elapsed: .seconds(30)) == .seconds(5))
        #expect(pace.patience(received: 0, elapsed: .seconds(40)) == .zero)
    }

    @Test func aBodyThatStopsArrivingClosesTheConnection() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).get()
        let (stalled, feed) = AsyncStream<ByteBuffer>.makeStream()
        feed.yield(ByteBuffer(bytes: [1, 2, 3]))
        // As a real request's body does, it ends when its connection closes.
        channel.closeFuture.whenComplete { _ in feed.finish() }
        let body = PacedBody(base: RequestBody(asyncSequence: stalled), channel: channel, pace: BodyPace(grace: .milliseconds(200), minimumRate: 1 << 20))
        var parts = body.makeAsyncIterator()
        #expect(try await parts.next()?.readableBytes == 3)
        await #expect(throws: BodyTooSlow.self) { try await parts.next() }
        // The close the deadline asked for completes the channel's closeFuture (it would wait for ever otherwise).
        try await channel.closeFuture.get()
    }
}
