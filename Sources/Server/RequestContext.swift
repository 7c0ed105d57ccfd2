import Hummingbird
import NIOCore

/// Request context carrying the peer address for logs and pull records.
public struct PortcullisContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Admin API bodies are small JSON documents.
    public var maxUploadSize: Int { 1 << 20 }
}
