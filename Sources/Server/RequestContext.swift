import Access
import Hummingbird
import NIOCore
import OCI
import Synchronization

/// Request context carrying the peer address and what the request turned out to be about.
public struct PortcullisContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection, for what must end it (a body that stops arriving).
    let channel: any Channel
    /// Filled in by the registry routes as they learn who is asking and for what; read by the
    /// registry middleware for the log line, the metrics and the pull record.
    public let outcome = RequestOutcome()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Admin API bodies are small JSON documents.
    public var maxUploadSize: Int { 1 << 20 }
}

/// What a registry request was about. One per request; a reference so the middleware that
/// created the context sees what the handler found out.
public final class RequestOutcome: Sendable {
    public struct Facts: Sendable {
        public var customerID: String?
        public var appSlug: String?
        public var repository = ""
        public var reference = ""
        /// `ping`, `token`, `manifest`, `blob`, `tags`, `referrers`, `chart`, `push-blob`, `push-manifest`, `delete`.
        public var action = "ping"
        /// Why the request was refused or failed; nil when it succeeded.
        public var reason: String?
        /// What a 401 challenge should ask for.
        public var challengeScopes: [RepositoryScope] = []
        /// Where the request arrived (a custom domain's challenge names that domain).
        var address: PublicAddress?
        /// True once the caller proved who it is (a license, a vendor token): only then is a
        /// refusal worth a record of its own.
        public var proved = false
    }

    private let facts = Mutex(Facts())

    public init() {}

    public func update(_ body: (inout Facts) -> Void) {
        facts.withLock { body(&$0) }
    }

    public var current: Facts { facts.withLock { $0 } }
}
