import Metrics

/// Records how long upstream requests take and counts the ones that fail, per registry; a
/// refusal of the vendor's stored login is counted apart, since only the vendor can fix it.
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
            switch response.status {
            case 401, 403: countAuthFailure(request)
            case 429, 500...: countError(request)
            default: break
            }
            return response
        } catch UpstreamError.authenticationFailed {
            countAuthFailure(request)
            throw UpstreamError.authenticationFailed
        } catch {
            countError(request)
            throw error
        }
    }

    private func countError(_ request: UpstreamRequest) {
        Counter(label: "portcullis_upstream_errors_total", dimensions: [("upstream", request.target.name)]).increment()
    }

    private func countAuthFailure(_ request: UpstreamRequest) {
        Counter(label: "portcullis_upstream_auth_failures_total", dimensions: [("upstream", request.target.name)]).increment()
    }
}
