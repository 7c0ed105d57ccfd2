import NIOCore
import NIOHTTPTypes

/// Holds a connection's full close until the last response's end has gone out.
///
/// Hummingbird closes a connection right after writing a response's end when the server is
/// shutting down (or the client asked for `Connection: close`), and a full close drops what is
/// still queued: the last few hundred KiB of a body streamed through the response writer.
/// Writes complete in order, so once the last end has gone out, everything before it has: a
/// streamed body's last parts, or the file regions `FileRegionWriter` sends below (it completes
/// an end only once its regions are out). In every pipeline: plain HTTP and TLS.
final class CloseAfterLastEnd: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var unsentEnds = 0
    private var deferredClose: (mode: CloseMode, promise: EventLoopPromise<Void>?)?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        let sent = promise ?? context.eventLoop.makePromise()
        unsentEnds += 1
        sent.futureResult.whenComplete { [weak self] _ in
            guard let self else { return }
            self.unsentEnds -= 1
            self.closeIfDeferred()
        }
        context.write(data, promise: sent)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if unsentEnds > 0, mode == .all, deferredClose == nil {
            deferredClose = (mode, promise)
            return
        }
        context.close(mode: mode, promise: promise)
    }

    private func closeIfDeferred() {
        guard unsentEnds == 0, let context, let close = deferredClose else { return }
        deferredClose = nil
        context.close(mode: close.mode, promise: close.promise)
    }
}
