import Access
import Hummingbird
import Logging
import Synchronization

/// Without `--public-url`, clients are told the listen address (in token realms, pull secrets,
/// the portals' commands) whatever Host they used, since a client-chosen Host is not echoed back.
/// Behind a load balancer or a DNS name that sends clients to the backend's address, which works
/// on this machine and nowhere else; the operator is told, once per host, what to set.
struct ForeignHostNotice: RouterMiddleware {
    typealias Context = PortcullisContext
    let configuration: ServerConfiguration
    let domains: DomainDirectory
    let logger: Logger
    private let noticed = NoticedHosts()

    init(configuration: ServerConfiguration, domains: DomainDirectory, logger: Logger) {
        self.configuration = configuration
        self.domains = domains
        self.logger = logger
    }

    func handle(_ request: Request, context: PortcullisContext, next: (Request, PortcullisContext) async throws -> Response) async throws -> Response {
        if configuration.publicURL == nil, let host = PublicAddress.requestHost(request), !PublicAddress.isOwnAddress(host, configuration),
           noticed.isFirst(host), (try? await domains.domain(forHost: host)) == nil {
            logger.warning("requests arrive for a host this server does not know as its own; clients are told the listen address instead", metadata: [
                "host": "\(host)", "toldInstead": "\(PublicAddress.listenAddress(configuration))",
                "fix": "set --public-url (PORTCULLIS_PUBLIC_URL) to the scheme and host clients use, e.g. https://\(host)",
            ])
        }
        return try await next(request, context)
    }
}

/// The hosts already noticed (at most 32: a stranger sending random Hosts fills no log).
final class NoticedHosts: Sendable {
    private let hosts = Mutex(Set<String>())

    func isFirst(_ host: String) -> Bool {
        hosts.withLock { hosts in
            guard hosts.count < 32, !hosts.contains(host) else { return false }
            hosts.insert(host)
            return true
        }
    }
}
