import Metrics

/// Records how long upstream requests take and counts the ones that fail, per registry.
public struct MetricsTransport: UpstreamTransport {
    let next: any UpstreamTransport

    public init(wrapping next: any UpstreamTransport) {
        self.next = next
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        let started = ContinuousClock.now
        defer { Timer(label: "portcullis_upstream_request_duration_seconds").record(duration: ContinuousClock.now - started) }
        do {
            let response = try await next.send(request)
            if response.status >= 500 || response.status == 429 { countError(request) }
            return response
        } catch {
            countError(request)
            throw error
        }
    }

    private func countError(_ request: UpstreamRequest) {
        Counter(label: "portcullis_upstream_errors_total", dimensions: [("upstream", request.target.name)]).increment()
    }
}
