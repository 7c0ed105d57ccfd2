import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// The Kubernetes version and distribution the instance runs on, where the SDK can read them:
/// the API server's `/version`, with the pod's service account. Unknown outside a cluster.
public struct ClusterFacts: Sendable, Equatable {
    public var version: String?
    public var distribution: String?

    public init(version: String? = nil, distribution: String? = nil) {
        self.version = version
        self.distribution = distribution
    }

    static let accountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// Reads the cluster's version (a few seconds at most; unknown on any failure).
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) async -> ClusterFacts {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"],
              let token = try? String(contentsOfFile: accountDirectory + "/token", encoding: .utf8) else { return ClusterFacts() }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(accountDirectory + "/ca.crt")
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { _ = client.shutdown() }
        let literal = host.contains(":") ? "[\(host)]" : host
        var request = HTTPClientRequest(url: "https://\(literal):\(port)/version")
        request.headers.add(name: "Authorization", value: "Bearer " + token.trimmingCharacters(in: .whitespacesAndNewlines))
        guard let response = try? await client.execute(request, timeout: .seconds(5)), response.status.code == 200,
              let body = try? await response.body.collect(upTo: 1 << 16),
              let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let gitVersion = object["gitVersion"] as? String else { return ClusterFacts() }
        return ClusterFacts(version: gitVersion, distribution: distribution(ofVersion: gitVersion))
    }

    /// What the version string gives away: the suffixes distributions add to it.
    public static func distribution(ofVersion version: String) -> String? {
        let marks: [(String, String)] = [("+k3s", "k3s"), ("+rke2", "rke2"), ("+k0s", "k0s"), ("-eks-", "eks"), ("-gke.", "gke"),
                                         ("+vmware", "tanzu"), ("-aks", "aks"), ("+embedded-cluster", "embedded-cluster")]
        return marks.first { version.contains($0.0) }?.1
    }
}
