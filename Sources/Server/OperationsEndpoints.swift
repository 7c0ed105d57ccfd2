import Foundation
import Hummingbird
import NIOCore
import Prometheus
import Storage

/// `/metrics` (Prometheus text) and `/readyz` (can this replica serve?).
struct OperationsEndpoints {
    let c: Components

    func register(on router: Router<PortcullisContext>) {
        // Compared as hashes, so the comparison takes as long whatever was sent.
        let metricsTokenHash = c.configuration.metricsToken.map(SecretBox.lookupHash)
        router.get("/metrics") { request, _ in
            if let metricsTokenHash {
                let given = request.headers[.authorization].map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : "" } ?? ""
                guard SecretBox.lookupHash(given) == metricsTokenHash else {
                    return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="metrics""#, .contentType: "text/plain"],
                                    body: .init(byteBuffer: ByteBuffer(string: "metrics need the metrics token\n")))
                }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: c.metrics.emitToBuffer())))
        }
        router.get("/readyz") { _, _ in
            let problem = await readinessProblem()
            return Response(status: problem == nil ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: (problem ?? "ready") + "\n")))
        }
    }

    /// Nil when ready; otherwise what is wrong.
    func readinessProblem() async -> String? {
        if c.state.isDraining { return "shutting down" }
        return await c.readiness()
    }
}
