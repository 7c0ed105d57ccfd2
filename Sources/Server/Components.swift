import Access
import AsyncHTTPClient
import Foundation
import Hosting
import Logging
import Prometheus
import Proxy
import Storage
import Upstream

/// The long-lived parts of a running server, built once at start and shared by routes.
public struct Components: Sendable {
    public let configuration: ServerConfiguration
    public let store: any MetadataStore
    public let blobs: any BlobStore
    public let secrets: SecretBox
    public let tokens: RegistryTokenService
    public let gate: LicenseGate
    public let upstream: UpstreamClient
    public let directory: UpstreamDirectory
    public let proxy: ProxyRegistry
    public let hosted: HostedRegistry
    public let catalog: ReleaseCatalog
    public let delivery: ChartDelivery
    public let pulls: PullRecorder
    public let throttle: LoginThrottle
    public let metrics: PrometheusCollectorRegistry
    public let state: ServerState
    /// Zero-copy sends of cached blobs; nil when serving TLS.
    public let sendfile: SendfileRegistry?
    public let logger: Logger
}
