import AsyncHTTPClient
import ControlPlane
import NIOCore
import NIOHTTP1
import Upstream

/// Webhook deliveries over AsyncHTTPClient: no redirects followed, ten seconds to answer, and
/// only to addresses the address policy allows (checked again at each delivery, so a name that
/// now resolves elsewhere is refused).
struct WebhookHTTPTransport: WebhookTransport {
    let connections: OutboundConnections

    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        let http = try await connections.client(for: url, isEndpoint: false)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(10))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}
