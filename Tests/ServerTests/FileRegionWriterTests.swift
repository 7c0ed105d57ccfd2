import Foundation
import NIOCore
import NIOEmbedded
import HTTPTypes
import NIOHTTP1
import NIOHTTPTypes
import OCI
import RegistryCore
import Storage
import Synchronization
import Testing
@testable import Server

/// A blob arriving under the test's control: it says what is readable when asked, and the
/// test decides when more arrives.
final class HandFedBlob: ArrivingBlob, @unchecked Sendable {
    let digest = Digest.of(Array("hand-fed".utf8))
    let localFile: BlobFile?
    private let state = Mutex<(progress: ArrivalProgress?, waiting: [(Int64, @Sendable (ArrivalProgress) -> Void)])>((nil, []))
    let asked = Mutex<[Int64]>([])

    init(file: BlobFile) { localFile = file }

    func length() async throws -> Int64? { nil }
    func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer { ByteBuffer() }

    func whenReadable(after offset: Int64, _ callback: @escaping @Sendable (ArrivalProgress) -> Void) {
        asked.withLock { $0.append(offset) }
        let now: ArrivalProgress? = state.withLock { s in
            if let p = s.progress, Self.satisfies(p, offset) { return p }
            s.waiting.append((offset, callback))
            return nil
        }
        if let now { callback(now) }
    }

    /// Bytes up to `upTo` readable, the blob complete, or failed: wakes whoever it satisfies.
    func arrive(_ progress: ArrivalProgress) {
        let woken = state.withLock { s -> [@Sendable (ArrivalProgress) -> Void] in
            s.progress = progress
            let ready = s.waiting.filter { Self.satisfies(progress, $0.0) }
            s.waiting.removeAll { Self.satisfies(progress, $0.0) }
            return ready.map(\.1)
        }
        for callback in woken { callback(progress) }
    }

    static func satisfies(_ p: ArrivalProgress, _ offset: Int64) -> Bool {
        if case .readable(let upTo) = p { return upTo > offset }
        return true
    }
}

@Suite struct FileRegionWriterTests {
    struct Fixture {
        let channel: EmbeddedChannel
        let registry: SendfileRegistry
        let blob: HandFedBlob
        let path: String

        init(size: Int) throws {
            path = NSTemporaryDirectory() + "region-" + UUID().uuidString
            let file = try BlobFile.create(path)
            try file.writeNow(ByteBuffer(bytes: Array(repeating: UInt8(7), count: size)), at: 0)
            registry = SendfileRegistry()
            blob = HandFedBlob(file: file)
            channel = EmbeddedChannel(handler: FileRegionWriter(registry: registry))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }

        /// Whether the connection is open (read aside: describing a channel in a failed
        /// expectation trips NIO's pipeline description).
        var isOpen: Bool { channel.isActive }

        /// Writes a marked response head and its end, as the HTTP layer above does.
        func respond(start: Int64, end: Int64) throws -> EventLoopFuture<Void> {
            let id = registry.register(blob.localFile!, arriving: blob, start: start, end: end)
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: SendfileRegistry.marker.rawName, value: id)
            try channel.writeOutbound(HTTPServerResponsePart.head(head))
            let promise = channel.eventLoop.makePromise(of: Void.self)
            channel.write(HTTPServerResponsePart.end(nil), promise: promise)
            channel.flush()
            return promise.futureResult
        }

        /// The outbound parts so far: `head`, `region a..<b`, `end`, `body n`.
        func parts() throws -> [String] {
            var out: [String] = []
            while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
                switch part {
                case .head(let h): out.append(h.headers.contains(name: SendfileRegistry.marker.rawName) ? "head with marker" : "head")
                case .body(.fileRegion(let r)): out.append("region \(r.readerIndex)..<\(r.endIndex)")
                case .body(.byteBuffer(let b)): out.append("body \(b.readableBytes)")
                case .end: out.append("end")
                }
            }
            return out
        }

        func close() { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func sendsEachArrivalAsOneRegionAndEndsOnlyWhenComplete() throws {
        let f = try Fixture(size: 1000)
        defer { f.close() }
        let ended = try f.respond(start: 0, end: 1000)
        #expect(try f.parts() == ["head"], "nothing is readable yet: the head goes, no body")
        f.blob.arrive(.readable(upTo: 400))
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts() == ["region 0..<400"])
        f.blob.arrive(.readable(upTo: 999))
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts() == ["region 400..<999"], "the held-back last byte is not sent")
        #expect(f.blob.asked.withLock { $0 } == [0, 400, 999], "one question per region, each from where it stopped")
        f.blob.arrive(.complete(length: 1000))
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts() == ["region 999..<1000", "end"])
        try ended.wait()
    }

    @Test func aRangeIsCutFromWhatArrives() throws {
        let f = try Fixture(size: 1000)
        defer { f.close() }
        f.blob.arrive(.readable(upTo: 900))
        _ = try f.respond(start: 100, end: 300)
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts() == ["head", "region 100..<300", "end"], "bytes already there go at once, and no more than asked")
    }

    @Test func writesAndACloseAfterTheResponseWaitForTheStreamedBody() throws {
        let f = try Fixture(size: 10)
        defer { f.close() }
        _ = try f.respond(start: 0, end: 10)
        _ = try f.parts()
        // A pipelined next response and a connection close arrive before the body is out.
        let queued = f.channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .notFound)))
        let closed = f.channel.close()
        let open = f.isOpen
        #expect(open, "the close waits")
        #expect(try f.parts().isEmpty)
        f.blob.arrive(.complete(length: 10))
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts() == ["region 0..<10", "end", "head"])
        try queued.wait()
        try closed.wait()
        let stillOpen = f.isOpen
        #expect(!stillOpen)
    }

    @Test func aFailedFetchClosesTheConnectionSoTheBodyIsCutNeverComplete() throws {
        let f = try Fixture(size: 100)
        defer { f.close() }
        let ended = try f.respond(start: 0, end: 100)
        f.blob.arrive(.readable(upTo: 50))
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts() == ["head", "region 0..<50"])
        f.blob.arrive(.failed(RegistryError(.unavailable, "upstream content failed verification", status: 502)))
        (f.channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(try f.parts().isEmpty, "no end: the client must not take a cut body for a whole one")
        #expect(throws: (any Error).self) { try ended.wait() }
        let stillOpen = f.isOpen
        #expect(!stillOpen)
    }

    @Test func anUnknownMarkerNeverSendsABody() throws {
        let f = try Fixture(size: 10)
        defer { f.close() }
        var head = HTTPResponseHead(version: .http1_1, status: .ok)
        head.headers.add(name: SendfileRegistry.marker.rawName, value: "made-up")
        #expect(throws: (any Error).self) { try f.channel.writeOutbound(HTTPServerResponsePart.head(head)) }
        let stillOpen = f.isOpen
        #expect(!stillOpen)
    }
}

/// A close asked for right after a response's end (shutdown, `Connection: close`) waits until the
/// end, and so everything written before it, has gone out: a full close drops what is queued.
@Suite struct CloseAfterLastEndTests {
    @Test func aCloseWaitsForTheLastEndToGoOut() throws {
        let channel = EmbeddedChannel(handler: CloseAfterLastEnd())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        channel.write(HTTPResponsePart.body(ByteBuffer(bytes: [1, 2, 3])), promise: nil)
        channel.write(HTTPResponsePart.end(nil), promise: nil)
        let closed = channel.close()
        let openBeforeFlush = channel.isActive
        #expect(openBeforeFlush, "closed with the body still queued")
        channel.flush()
        try closed.wait()
        let openAfter = channel.isActive
        #expect(!openAfter)
    }
}
