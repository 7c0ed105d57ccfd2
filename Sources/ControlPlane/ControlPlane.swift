import Access
import Foundation
import Hosting
import Logging
import Proxy
import Storage
import Upstream

/// A vendor operation that could not be done, said so the vendor can act on it.
public enum ControlPlaneError: Error, Equatable, CustomStringConvertible {
    /// The request itself is wrong (bad slug, unknown channel, invalid chart…).
    case invalid(String)
    case notFound(String)
    /// It clashes with what exists (a slug or name already taken).
    case conflict(String)

    public var description: String {
        switch self {
        case .invalid(let m), .notFound(let m), .conflict(let m): m
        }
    }
}

/// Everything a vendor can do to its apps, registries, customers, tokens, channels and
/// releases, with the validation and the side effects (cache invalidation, logging) that
/// go with each. The admin API and the CLI (through it) are thin clients of this; nothing
/// above it touches the stores.
public struct ControlPlane: Sendable {
    let store: any MetadataStore
    let secrets: SecretBox
    let gate: LicenseGate
    let directory: UpstreamDirectory
    let upstream: any UpstreamRegistry
    let catalog: ReleaseCatalog
    let domains: DomainDirectory
    public let pulls: PullRecorder
    /// Where events go; nil when the server delivers none (tests).
    public let webhooks: WebhookDispatcher?
    let licenseFields: LicenseFieldSigner?
    let logger: Logger
    /// Checks the hosts of registry endpoints and webhook URLs against the address policy.
    let outbound: OutboundConnections?
    /// What the resolver remembers of customers' injected values, forgotten when they change.
    let recipients: RecipientMemo?
    /// Says whether customers could pull a proxy path, for lint (the resolver decides pulls).
    let proxyPaths: RepositoryResolver?

    public init(store: any MetadataStore, secrets: SecretBox, gate: LicenseGate, directory: UpstreamDirectory, upstream: any UpstreamRegistry,
                catalog: ReleaseCatalog, domains: DomainDirectory, outbound: OutboundConnections? = nil, recipients: RecipientMemo? = nil,
                pulls: PullRecorder, webhooks: WebhookDispatcher? = nil, licenseFields: LicenseFieldSigner? = nil,
                proxyPaths: RepositoryResolver? = nil, logger: Logger) {
        self.proxyPaths = proxyPaths
        self.outbound = outbound
        self.recipients = recipients
        self.store = store
        self.secrets = secrets
        self.gate = gate
        self.directory = directory
        self.upstream = upstream
        self.catalog = catalog
        self.domains = domains
        self.pulls = pulls
        self.webhooks = webhooks
        self.licenseFields = licenseFields
        self.logger = logger
    }

    /// Runs `body`, turning the domain modules' errors into `ControlPlaneError`.
    func normalized<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ControlPlaneError {
            throw error
        } catch let error as StoreError {
            switch error {
            case .conflict(let m): throw ControlPlaneError.conflict(m)
            case .notFound(let m): throw ControlPlaneError.notFound(m)
            }
        } catch let error as CatalogError {
            throw ControlPlaneError.invalid(error.description)
        }
    }
}

extension ControlPlane {
    /// Refuses a URL whose host the server would not connect to (a private address without
    /// `--allow-private-upstreams`, a link-local or metadata address, a name that does not resolve).
    func checkDestination(_ url: String, what: String) async throws {
        if let refusal = OutboundRefusal.ofPort(in: url) { throw ControlPlaneError.invalid("\(what) \(refusal.host): \(refusal.reason)") }
        guard let outbound, let host = URL(string: url)?.host else { return }
        do { _ = try await outbound.checkedAddress(of: host, isEndpoint: false) } catch where !error.unresolved {
            throw ControlPlaneError.invalid("\(what) \(error.host): \(error.reason)")
        } catch {
            // A name that does not resolve now is checked again at every connection.
        }
    }
}
