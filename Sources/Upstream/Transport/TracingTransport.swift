import Foundation
import Tracing

/// A span for each request to an upstream, from sending it to its response head (the body,
/// when there is one, is read later under its reader's own span). Method, host, path and
/// status only: headers and query strings carry credentials and signatures.
public struct TracingTransport: UpstreamTransport {
    let next: any UpstreamTransport

    public init(wrapping next: any UpstreamTransport) {
        self.next = next
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        try await withSpan("upstream.request", ofKind: .client) { span in
            let url = URLComponents(string: request.url)
            span.attributes["http.request.method"] = request.method.rawValue
            span.attributes["server.address"] = url?.host
            span.attributes["url.path"] = url?.path
            let response = try await next.send(request)
            span.attributes["http.response.status_code"] = response.status
            if response.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }
}
