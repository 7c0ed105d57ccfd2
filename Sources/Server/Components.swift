import Access
import ControlPlane
import Bundles
import Foundation
import Hosting
import Logging
import OCI
import Prometheus
import Proxy
import Storage
import Upstream

/// The long-lived parts of a running server, built once at start and shared by routes.
/// Routes reach the domain through these and never the stores underneath.
public struct Components: Sendable {
    public let configuration: ServerConfiguration
    public let gate: LicenseGate
    public let tokens: RegistryTokenService
    public let resolver: RepositoryResolver
    public let control: ControlPlane
    public let fills: FillService
    /// Proxied blobs: stored, or being fetched (which other replicas may stream, see `PeerFillRoutes`).
    public let blobCache: BlobCache
    /// Lets replicas of this deployment ask each other for fills.
    public let peerPass: PeerPass
    /// Keeps the proxy cache under its limit; records pull recency either way.
    public let evictor: CacheEvictor
    public let cacheUsage: CacheUsage
    /// Builds air-gap bundles.
    public let bundles: BundleBuilder
    /// Removes what vendors pushed that no manifest references.
    public let collector: HostedGarbageCollector
    /// Forgets customers' delivered charts nobody pulls any more.
    public let chartCollector: DeliveredChartCollector
    public let throttle: LoginThrottle
    public let metrics: PrometheusCollectorRegistry
    public let state: ServerState
    /// Whether the database and blob store can serve (for `/readyz`).
    public let readiness: @Sendable () async -> String?
    /// A presigned object-store URL to redirect blob GETs to, when configured.
    public let blobRedirect: (@Sendable (Digest) -> String)?
    /// Zero-copy sends of cached blobs; nil when serving TLS.
    public let sendfile: SendfileRegistry?
    /// How often anonymous clients may ask, per address.
    public let anonymousRate: AnonymousRateLimit
    /// Custom domains: which app a request's Host belongs to.
    public let domains: DomainDirectory
    /// The certificates presented when serving TLS.
    public let certificates: TLSCertificates?
    /// Connections to upstreams, the hosts they redirect to, token services and webhooks,
    /// every one checked against the address policy.
    public let outbound: OutboundConnections
    public let logger: Logger

    public var pulls: PullRecorder { control.pulls }
}
