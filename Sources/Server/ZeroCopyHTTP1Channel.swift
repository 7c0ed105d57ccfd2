import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RegistryCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Storage
import Synchronization

/// Blobs handed to the kernel with sendfile(2) instead of being copied through user-space
/// buffers: cached blobs whole, and blobs still arriving from upstream as their bytes land.
///
/// Hummingbird response bodies are ByteBuffers, so a blob route cannot write a FileRegion
/// itself. Instead it answers with an empty body, the real Content-Length, and a marker
/// header naming an entry here; `FileRegionWriter`, which sits below the HTTP/1 codec, strips
/// the marker and writes the file regions before the response end. Only the blob route puts
/// entries here, and markers it does not know are dropped, so a header can never name a file.
public final class SendfileRegistry: Sendable {
    struct Entry: Sendable {
        enum Source: Sendable {
            case complete
            /// Sent region by region as the blob arrives, each region only once it is readable.
            case arriving(any ArrivingBlob)
        }

        var file: BlobFile
        var source: Source
        var start: Int64
        /// Exclusive.
        var end: Int64
        var added: ContinuousClock.Instant
    }

    static let marker = HTTPField.Name("X-Portcullis-Sendfile")!
    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Registers bytes `start..<end` of `file` and returns the marker value for the response.
    func register(_ file: BlobFile, arriving: (any ArrivingBlob)? = nil, start: Int64, end: Int64) -> String {
        let id = UUID().uuidString
        let now = ContinuousClock.now
        entries.withLock { entries in
            // A response that never reached the wire leaves its entry; do not let those pile up.
            if entries.count > 1024 { entries = entries.filter { now - $0.value.added < .seconds(60) } }
            entries[id] = Entry(file: file, source: arriving.map { .arriving($0) } ?? .complete, start: start, end: end, added: now)
        }
        return id
    }

    func take(_ id: String) -> Entry? {
        entries.withLock { $0.removeValue(forKey: id) }
    }
}

/// Below the HTTP/1 codec: turns a marked response into head, file regions, end.
///
/// For a blob still arriving, it writes what is readable as one region, and when that region
/// has gone out asks the fill to call back when more is readable; the fill's callback hops to
/// this channel's event loop. So each client has at most one region in flight and no buffer
/// of its own: memory does not grow with the number of clients, and a slow client slows only
/// itself. Writes that come after the response (a pipelined next response) wait until the
/// streamed body is complete.
final class FileRegionWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: SendfileRegistry
    private var pending: SendfileRegistry.Entry?

    /// The body being sent. A cached blob is one region; a blob still arriving is sent region
    /// by region. Either way the response's end, pipelined responses and a close wait for it:
    /// a close that went through with a region still queued would cut the body (it did, on
    /// graceful shutdown, for every cached blob).
    private struct Stream {
        /// Nil for a blob that is complete (everything up to `end` is readable).
        var blob: (any ArrivingBlob)?
        var handle: NIOFileHandle
        var sent: Int64
        var end: Int64
        var readable: Int64
        var inFlight = false
        var waiting = false
        var endPart: (trailers: HTTPHeaders?, promise: EventLoopPromise<Void>?)
    }

    private var stream: Stream?
    /// Writes that arrived while a body was streaming, sent in order once it is done.
    private var queued: [(NIOAny, EventLoopPromise<Void>?)] = []
    /// A close asked for while a body was streaming (the connection ends after this response):
    /// done once the body is out, not before.
    private var deferredClose: (mode: CloseMode, promise: EventLoopPromise<Void>?)?
    private var context: ChannelHandlerContext?

    private let logger: Logger?

    init(registry: SendfileRegistry, logger: Logger? = nil) {
        self.registry = registry
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandon(ChannelError.ioOnClosedChannel)
        self.context = nil
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if stream != nil, deferredClose == nil {
            deferredClose = (mode, promise)
            return
        }
        context.close(mode: mode, promise: promise)
    }

    /// The close asked for while a body was going out, once nothing is left to send.
    private func closeIfDeferred() {
        guard stream == nil, let context, let close = deferredClose else { return }
        deferredClose = nil
        context.close(mode: close.mode, promise: close.promise)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if stream != nil {
            queued.append((data, promise))
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let markerName = SendfileRegistry.marker.rawName
            if let id = head.headers.first(name: markerName) {
                head.headers.remove(name: markerName)
                pending = registry.take(id)
                if pending == nil {
                    // An unknown marker: never send a body we cannot vouch for.
                    promise?.fail(ChannelError.ioOnClosedChannel)
                    context.close(promise: nil)
                    return
                }
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers):
            guard let entry = pending else {
                context.write(wrapOutboundOut(.end(trailers)), promise: promise)
                return
            }
            pending = nil
            let descriptor = dup(entry.file.descriptor)
            guard descriptor >= 0 else {
                // Out of descriptors (EMFILE): this response fails, the process must not. NIO
                // traps on a sendfile from an invalid descriptor.
                let failure = IOError(errnoCode: errno, reason: "dup")
                logger?.error("blob response not sent: \(ResourceShortage(failure)?.description ?? "\(failure)")")
                promise?.fail(failure)
                context.fireErrorCaught(failure)
                context.close(promise: nil)
                return
            }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
            switch entry.source {
            case .complete:
                stream = Stream(blob: nil, handle: handle, sent: entry.start, end: entry.end, readable: entry.end,
                                endPart: (trailers, promise))
            case .arriving(let blob):
                stream = Stream(blob: blob, handle: handle, sent: entry.start, end: entry.end, readable: entry.start,
                                endPart: (trailers, promise))
            }
            pump()
        case .body(let body):
            context.write(wrapOutboundOut(.body(body)), promise: promise)
        }
    }

    /// Sends what is readable and not yet sent; asks to be called back for more.
    private func pump() {
        guard let context, var s = stream, !s.inFlight else { return }
        if s.sent >= s.end {
            finish()
            return
        }
        let upTo = min(s.readable, s.end)
        if upTo > s.sent {
            let region = FileRegion(fileHandle: s.handle, readerIndex: Int(s.sent), endIndex: Int(upTo))
            s.inFlight = true
            stream = s
            context.writeAndFlush(wrapOutboundOut(.body(.fileRegion(region)))).whenComplete { [weak self] result in
                guard let self, var s = self.stream else { return }
                switch result {
                case .success:
                    s.inFlight = false
                    s.sent = upTo
                    self.stream = s
                    self.pump()
                case .failure(let error):
                    self.abandon(error)
                }
            }
            return
        }
        guard !s.waiting, let blob = s.blob else { return }
        s.waiting = true
        stream = s
        let loop = context.eventLoop
        let sent = s.sent
        let handler = NIOLoopBound(self, eventLoop: loop)
        blob.whenReadable(after: sent) { progress in
            loop.execute {
                let me = handler.value
                guard var s = me.stream else { return }
                s.waiting = false
                switch progress {
                case .readable(let upTo): s.readable = max(s.readable, upTo)
                case .complete(let length): s.readable = length
                case .failed(let error):
                    me.stream = s
                    me.abandon(error)
                    return
                }
                me.stream = s
                me.pump()
            }
        }
    }

    private func finish() {
        guard let context, let s = stream else { return }
        stream = nil
        try? s.handle.close()
        context.write(wrapOutboundOut(.end(s.endPart.trailers)), promise: s.endPart.promise)
        let later = queued
        queued = []
        for (data, promise) in later { write(context: context, data: data, promise: promise) }
        context.flush()
        closeIfDeferred()
    }

    /// The blob failed or the client went away: the response cannot be completed, so the
    /// connection closes and the client sees a cut-off body, never a complete wrong one.
    private func abandon(_ error: any Error) {
        guard let s = stream else { return }
        stream = nil
        // The access log line went with the head; this says the body did not all go.
        logger?.info("blob response cut short", metadata: ["sent": "\(s.sent)", "of": "\(s.end)", "error": "\(error)"])
        try? s.handle.close()
        s.endPart.promise?.fail(error)
        for (_, promise) in queued { promise?.fail(error) }
        queued = []
        let close = deferredClose
        deferredClose = nil
        context?.close(promise: close?.promise)
    }
}

/// Hummingbird's HTTP/1 child channel with `FileRegionWriter` in the pipeline.
struct ZeroCopyHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let registry: SendfileRegistry
    let maxHeaderBytes: Int
    let idleTimeout: Duration?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = maxHeaderBytes
            limits.maxHeaderListSize = maxHeaderBytes
            limits.maxHeaderFieldCount = 200
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try channel.pipeline.syncOperations.addHandler(FileRegionWriter(registry: registry, logger: logger))
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            // Where Hummingbird puts its additional handlers, as in the TLS pipelines: a close after a
            // response's end waits for the end, and so for a file region or a streamed body before it.
            try channel.pipeline.syncOperations.addHandler(CloseAfterLastEnd())
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
