import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Turns a host name into addresses.
public protocol HostResolver: Sendable {
    func addresses(of host: String) async throws -> [IPAddress]
}

/// The system's resolver (`getaddrinfo`), run on NIO's blocking pool so a slow DNS answer never
/// holds an event loop. It also reads every spelling of an address (`0x7f000001`, `127.1`,
/// `2130706433`) the way the connection would.
public struct SystemResolver: HostResolver {
    public init() {}

    public func addresses(of host: String) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive { try Self.resolve(host) }
    }

    static func resolve(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        guard status == 0, let first = result else {
            throw OutboundRefusal(host: host, reason: "the host name does not resolve", unresolved: true)
        }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        withUnsafeBytes(of: sin.pointee.sin_addr) { out.append(IPAddress(bytes: Array($0))!) }
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                        withUnsafeBytes(of: sin6.pointee.sin6_addr) { out.append(IPAddress(bytes: Array($0))!) }
                    }
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        return Array(Set(out)).sorted { $0.description < $1.description }
    }
}

/// A destination the address policy refuses, or a host that does not resolve.
public struct OutboundRefusal: Error, CustomStringConvertible, Sendable {
    public var host: String
    public var reason: String
    /// True when the name does not resolve (now): not a verdict on the address.
    public var unresolved = false

    public var description: String { "\(host): \(reason)" }

    /// A URL whose port no TCP connection can have, refused before a connection is tried: the
    /// HTTP client traps on a port above 65535, and such a URL can come from an upstream's
    /// redirect or token realm as easily as from a typo.
    public static func ofPort(in url: String) -> OutboundRefusal? {
        guard let parts = URLComponents(string: url) else { return nil }
        guard let port = parts.port else { return nil }
        guard !(1...65535).contains(port) else { return nil }
        return OutboundRefusal(host: parts.host ?? url, reason: "port \(port) is not a TCP port (1-65535)")
    }
}

/// Connections to hosts that an upstream's answer, a vendor's configuration or a webhook URL
/// name. Each host is resolved first, every address it resolves to is checked against the
/// address policy, and the connection is then made to the checked address (an HTTP client
/// pinned to it, TLS still verified against the host name), so a name that resolves to a
/// public address when checked and to a private one when connected cannot slip through.
public actor OutboundConnections {
    public let policy: AddressPolicy
    private let resolver: any HostResolver
    private let configuration: HTTPClient.Configuration
    private var resolved: [String: (addresses: [IPAddress], until: ContinuousClock.Instant)] = [:]
    private var clients: [String: (client: HTTPClient, used: ContinuousClock.Instant)] = [:]
    /// How long an answer of the resolver is used: short, so DNS changes are followed.
    private let resolutionLifetime: Duration = .seconds(30)
    private static let maxClients = 256

    public init(policy: AddressPolicy, resolver: any HostResolver = SystemResolver(), configuration: HTTPClient.Configuration) {
        self.policy = policy
        self.resolver = resolver
        self.configuration = configuration
    }

    /// The address `host` may be connected to, or the refusal naming the host and why.
    public func checkedAddress(of host: String, isEndpoint: Bool) async throws(OutboundRefusal) -> IPAddress {
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else if let cached = resolved[host.lowercased()], cached.until > .now {
            addresses = cached.addresses
        } else {
            do { addresses = try await resolver.addresses(of: host) } catch {
                throw (error as? OutboundRefusal) ?? OutboundRefusal(host: host, reason: "the host name does not resolve", unresolved: true)
            }
            guard !addresses.isEmpty else { throw OutboundRefusal(host: host, reason: "the host name does not resolve", unresolved: true) }
            resolved[host.lowercased()] = (addresses, .now + resolutionLifetime)
            if resolved.count > 4096 { resolved = resolved.filter { $0.value.until > .now } }
        }
        // Every address must pass: a name that also resolves to a forbidden address is refused.
        for address in addresses {
            if let why = policy.refusal(address, isEndpoint: isEndpoint) { throw OutboundRefusal(host: host, reason: why) }
        }
        return addresses[0]
    }

    /// An HTTP client that connects `url`'s host to an address the policy allows.
    public func client(for url: String, isEndpoint: Bool) async throws(OutboundRefusal) -> HTTPClient {
        guard let host = URL(string: url)?.host, !host.isEmpty else { throw OutboundRefusal(host: url, reason: "not a URL with a host") }
        if let refusal = OutboundRefusal.ofPort(in: url) { throw refusal }
        let address = try await checkedAddress(of: host, isEndpoint: isEndpoint)
        let key = host.lowercased() + "|" + address.description
        if let existing = clients[key] {
            clients[key]?.used = .now
            return existing.client
        }
        var configuration = self.configuration
        if IPAddress(host) == nil { configuration.dnsOverride = [host: address.description] }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        clients[key] = (client, .now)
        evictIdle()
        return client
    }

    /// Past the cap, clients unused for ten minutes are shut down (a stream still running on one
    /// is older than any response the upstream chain waits for).
    private func evictIdle() {
        guard clients.count > Self.maxClients else { return }
        let idle = clients.filter { $0.value.used < .now - .seconds(600) }
        for (key, entry) in idle {
            clients[key] = nil
            Task { try? await entry.client.shutdown() }
        }
    }

    public func shutdown() async {
        for (_, entry) in clients { try? await entry.client.shutdown() }
        clients.removeAll()
    }
}
