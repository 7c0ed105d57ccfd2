import AsyncHTTPClient
import Connectivity
import Logging
import NIOCore
import NIOHTTP1

/// The bottom of the chain: sends one request with AsyncHTTPClient. No redirects, no retries.
public struct HTTPClientTransport: UpstreamTransport {
    /// One client for every host (the vendor's own CLI), or connections checked against the
    /// address policy (the server, where upstreams choose the hosts).
    enum Clients: Sendable {
        case shared(HTTPClient)
        case guarded(OutboundConnections)
    }

    let clients: Clients
    /// How long to wait for the response head.
    let timeout: TimeAmount
    let logger: Logger

    public init(http: HTTPClient, timeout: TimeAmount, logger: Logger) {
        clients = .shared(http)
        self.timeout = timeout
        self.logger = logger
    }

    public init(connections: OutboundConnections, timeout: TimeAmount, logger: Logger) {
        clients = .guarded(connections)
        self.timeout = timeout
        self.logger = logger
    }

    /// The configuration for upstream use: no automatic redirects, bounded waits.
    public static func configuration(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(60)) -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: connectTimeout, read: readTimeout)
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        // A refused connection or a failed TLS handshake is an answer: said at once (a 503 to the
        // customer, a warning to the vendor), not retried until the connect timeout, which kept
        // every such request waiting ten seconds for the same failure.
        config.connectionPool.retryConnectionEstablishment = false
        return config
    }

    public static func makeHTTPClient(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(60)) -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration(connectTimeout: connectTimeout, readTimeout: readTimeout))
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        let http: HTTPClient
        switch clients {
        case .shared(let client):
            if let refusal = OutboundRefusal.ofPort(in: request.url) { throw UpstreamError.refusedDestination(host: refusal.host, reason: refusal.reason) }
            http = client
        case .guarded(let connections):
            do { http = try await connections.client(for: request.url, isEndpoint: request.isToEndpoint) } catch where error.unresolved {
                throw UpstreamError.unresolvable(host: error.host)
            } catch {
                logger.warning("refused an upstream destination", metadata: ["host": "\(error.host)", "reason": "\(error.reason)"])
                throw UpstreamError.refusedDestination(host: error.host, reason: error.reason)
            }
        }
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method
        outgoing.headers = request.headers
        if let body = request.body { outgoing.body = .bytes(body) }
        if !outgoing.headers.contains(name: "User-Agent") { outgoing.headers.add(name: "User-Agent", value: "portcullis") }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(outgoing, timeout: timeout, logger: logger.forHTTPClient)
        } catch {
            throw UpstreamError.unreachable(Self.describe(error))
        }
        return UpstreamResponse(status: Int(response.status.code), headers: response.headers, body: UpstreamBody(response.body))
    }

    /// A transport failure as a vendor reads it (in `registry add`'s warning, `registry test`, the
    /// logs); see `ConnectionFailure`.
    static func describe(_ error: any Error) -> String {
        ConnectionFailure(error).describe()
    }
}
