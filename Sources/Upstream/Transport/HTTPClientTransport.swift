import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

/// The bottom of the chain: sends one request with AsyncHTTPClient. No redirects, no retries.
public struct HTTPClientTransport: UpstreamTransport {
    let http: HTTPClient
    /// How long to wait for the response head.
    let timeout: TimeAmount
    let logger: Logger

    public init(http: HTTPClient, timeout: TimeAmount, logger: Logger) {
        self.http = http
        self.timeout = timeout
        self.logger = logger
    }

    /// An HTTP client configured for upstream use: no automatic redirects, bounded waits.
    public static func makeHTTPClient(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(60)) -> HTTPClient {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: connectTimeout, read: readTimeout)
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method
        outgoing.headers = request.headers
        if let body = request.body { outgoing.body = .bytes(body) }
        if !outgoing.headers.contains(name: "User-Agent") { outgoing.headers.add(name: "User-Agent", value: "portcullis") }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(outgoing, timeout: timeout, logger: logger)
        } catch {
            throw UpstreamError.unreachable(Self.describe(error))
        }
        return UpstreamResponse(status: Int(response.status.code), headers: response.headers, body: UpstreamBody(response.body))
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return String(describing: e) }
        return String(describing: type(of: error)) + ": " + String(describing: error).prefix(200)
    }
}
