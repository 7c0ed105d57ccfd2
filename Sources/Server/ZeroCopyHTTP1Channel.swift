import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Storage
import Synchronization

/// Cached blobs handed to the kernel with sendfile(2) instead of being copied through
/// user-space buffers.
///
/// Hummingbird response bodies are ByteBuffers, so a blob route cannot write a FileRegion
/// itself. Instead it answers with an empty body, the real Content-Length, and a marker
/// header naming an entry here; `FileRegionWriter`, which sits below the HTTP/1 codec, strips
/// the marker and writes the file region before the response end. Only the blob route puts
/// entries here, and markers it does not know are dropped, so a header can never name a file.
public final class SendfileRegistry: Sendable {
    struct Entry {
        var file: BlobFile
        var start: Int64
        /// Exclusive.
        var end: Int64
        var added: ContinuousClock.Instant
    }

    static let marker = HTTPField.Name("X-Portcullis-Sendfile")!
    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Registers bytes `start..<end` of `file` and returns the marker value for the response.
    func register(_ file: BlobFile, start: Int64, end: Int64) -> String {
        let id = UUID().uuidString
        let now = ContinuousClock.now
        entries.withLock { entries in
            // A response that never reached the wire leaves its entry; do not let those pile up.
            if entries.count > 1024 { entries = entries.filter { now - $0.value.added < .seconds(60) } }
            entries[id] = Entry(file: file, start: start, end: end, added: now)
        }
        return id
    }

    func take(_ id: String) -> Entry? {
        entries.withLock { $0.removeValue(forKey: id) }
    }
}

/// Below the HTTP/1 codec: turns a marked response into head, file region, end.
final class FileRegionWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: SendfileRegistry
    private var pending: SendfileRegistry.Entry?

    init(registry: SendfileRegistry) {
        self.registry = registry
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
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
            if let entry = pending {
                pending = nil
                let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: dup(entry.file.descriptor))
                let region = FileRegion(fileHandle: handle, readerIndex: Int(entry.start), endIndex: Int(entry.end))
                context.write(wrapOutboundOut(.body(.fileRegion(region)))).whenComplete { _ in
                    try? handle.close()
                }
            }
            context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        case .body(let body):
            context.write(wrapOutboundOut(.body(body)), promise: promise)
        }
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
            try channel.pipeline.syncOperations.addHandler(FileRegionWriter(registry: registry))
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
