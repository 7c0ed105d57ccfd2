import AsyncHTTPClient
import ControlPlane
import NIOCore
import NIOHTTP1

/// Webhook deliveries over AsyncHTTPClient: no redirects followed, ten seconds to answer.
struct WebhookHTTPTransport: WebhookTransport {
    let http: HTTPClient

    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(10))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}
