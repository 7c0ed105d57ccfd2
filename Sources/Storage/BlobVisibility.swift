/// Where a blob of the shared content-addressed store may be served from.
///
/// Every app and customer shares one store, so having the bytes is never enough: a
/// repository serves a blob only once it has been shown to belong there. That is the
/// guarantee that keeps one app's content from leaking through another app's names.
public enum BlobVisibility: Hashable, Sendable, CustomStringConvertible {
    /// The upstream registry confirmed that `repository` (its own name for it) holds the blob.
    case upstream(registryID: String, repository: String)
    /// Pushed to, or mounted into, the vendor repository `repository` (`<app>/<repo>`).
    case hosted(repository: String)
    /// Part of a chart artifact delivered to `recipient` through `repository`.
    case chart(ChartRecipient, repository: String)

    /// Who a delivered chart artifact was built for.
    public enum ChartRecipient: Hashable, Sendable {
        case vendor
        case customer(id: String)
    }

    /// The (scope, repository) pair this is stored under. The encoding is the one the first
    /// schema used, so existing data directories keep their links.
    var storageKey: (scope: String, repository: String) {
        switch self {
        case .upstream(let id, let repository): (id, repository)
        case .hosted(let repository): ("hosted", repository)
        case .chart(.vendor, let repository): (Self.vendorChartScope, repository)
        case .chart(.customer(let id), let repository): (Self.customerChartScope + id, repository)
        }
    }

    static let vendorChartScope = "chart:vendor"
    /// Followed by the customer's ID.
    static let customerChartScope = "chart:customer:"

    /// A chart place read back from its storage key; nil for any other scope.
    init?(chartScope scope: String, repository: String) {
        if scope == Self.vendorChartScope {
            self = .chart(.vendor, repository: repository)
        } else if scope.hasPrefix(Self.customerChartScope), scope.count > Self.customerChartScope.count {
            self = .chart(.customer(id: String(scope.dropFirst(Self.customerChartScope.count))), repository: repository)
        } else {
            return nil
        }
    }

    public var description: String { "\(storageKey.scope) \(storageKey.repository)" }
}
