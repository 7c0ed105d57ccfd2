import Logging
import Foundation
import NIOCore
import Synchronization
import Testing
@testable import Upstream

@Suite struct AddressPolicyTests {
    func kind(_ text: String) throws -> AddressPolicy.Kind {
        AddressPolicy.kind(of: try #require(IPAddress(text), "\(text) parses"))
    }

    @Test(arguments: [
        ("8.8.8.8", "public"), ("1.1.1.1", "public"), ("2001:4860:4860::8888", "public"), ("203.0.113.7", "public"),
        ("127.0.0.1", "private"), ("127.255.0.9", "private"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
        ("192.168.1.1", "private"), ("100.64.0.1", "private"), ("100.100.100.200", "private"), ("::1", "private"), ("fd12:3456::1", "private"),
        ("169.254.169.254", "forbidden"), ("169.254.0.1", "forbidden"), ("0.0.0.0", "forbidden"), ("::", "forbidden"), ("fe80::1", "forbidden"),
        ("fd00:ec2::254", "forbidden"), ("224.0.0.1", "forbidden"), ("255.255.255.255", "forbidden"), ("ff02::1", "forbidden"),
        // IPv6 spellings of IPv4 addresses are judged by the IPv4 address they carry.
        ("::ffff:127.0.0.1", "private"), ("::ffff:169.254.169.254", "forbidden"), ("::ffff:8.8.8.8", "public"),
        ("64:ff9b::a9fe:a9fe", "forbidden"), ("2002:a9fe:a9fe::1", "forbidden"), ("2002:0a00:0001::1", "private"),
        ("172.32.0.1", "public"), ("100.128.0.1", "public"),
    ])
    func addressesAreJudgedByWhatTheyAre(address: String, expected: String) throws {
        let got = switch try kind(address) {
        case .public: "public"
        case .private: "private"
        case .forbidden: "forbidden"
        }
        #expect(got == expected, "\(address)")
    }

    @Test func privateNeedsTheOptInOrTheRegisteredEndpointButMetadataNeither() throws {
        let loopback = try #require(IPAddress("127.0.0.1")), metadata = try #require(IPAddress("169.254.169.254"))
        #expect(AddressPolicy(allowPrivate: false).refusal(loopback, isEndpoint: false)?.contains("--allow-private-upstreams") == true)
        #expect(AddressPolicy(allowPrivate: false).refusal(loopback, isEndpoint: true) == nil)
        #expect(AddressPolicy(allowPrivate: true).refusal(loopback, isEndpoint: false) == nil)
        #expect(AddressPolicy(allowPrivate: true).refusal(metadata, isEndpoint: true)?.contains("metadata") == true)
    }

    @Test(arguments: ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "localhost"])
    func everySpellingOfLoopbackResolvesToLoopback(host: String) throws {
        let addresses = try SystemResolver.resolve(host)
        #expect(!addresses.isEmpty)
        for address in addresses {
            guard case .private = AddressPolicy.kind(of: address) else { Issue.record("\(host) resolved to \(address)"); continue }
        }
    }
}

/// A resolver that answers from a script, and counts.
final class ScriptedResolver: HostResolver {
    let answers: Mutex<[String: [[String]]]>
    let asked = Mutex(0)

    init(_ answers: [String: [[String]]]) { self.answers = Mutex(answers) }

    func addresses(of host: String) async throws -> [IPAddress] {
        asked.withLock { $0 += 1 }
        let next = answers.withLock { table -> [String] in
            guard var list = table[host], !list.isEmpty else { return [] }
            let first = list.removeFirst()
            table[host] = list.isEmpty ? [first] : list
            return first
        }
        return next.compactMap(IPAddress.init)
    }
}

@Suite struct OutboundConnectionsTests {
    func connections(_ answers: [String: [[String]]], allowPrivate: Bool = false) -> (OutboundConnections, ScriptedResolver) {
        let resolver = ScriptedResolver(answers)
        return (OutboundConnections(policy: AddressPolicy(allowPrivate: allowPrivate), resolver: resolver,
                                    configuration: HTTPClientTransport.configuration()), resolver)
    }

    /// Resolve, check, then connect to the checked address: the name is resolved once and the
    /// connection pinned to what was checked.
    @Test func aNameIsResolvedCheckedAndPinnedToTheCheckedAddress() async throws {
        let (outbound, resolver) = connections(["cdn.example": [["93.184.216.34"], ["169.254.169.254"]]])
        #expect(try await outbound.checkedAddress(of: "cdn.example", isEndpoint: false).description == "93.184.216.34")
        // A second answer that would point elsewhere is not asked for while the first is fresh.
        #expect(try await outbound.checkedAddress(of: "cdn.example", isEndpoint: false).description == "93.184.216.34")
        #expect(resolver.asked.withLock { $0 } == 1)
        _ = try await outbound.client(for: "https://cdn.example/blob", isEndpoint: false)
        await outbound.shutdown()
    }

    @Test func aNameResolvingToAForbiddenAddressAmongOthersIsRefused() async throws {
        let (outbound, _) = connections(["mixed.example": [["93.184.216.34", "169.254.169.254"]]], allowPrivate: true)
        do {
            _ = try await outbound.checkedAddress(of: "mixed.example", isEndpoint: false)
            Issue.record("expected a refusal")
        } catch {
            #expect(error.host == "mixed.example" && error.reason.contains("metadata"))
        }
    }

    @Test func privateAddressesAreRefusedUnlessOptedInOrTheEndpoint() async throws {
        let (outbound, _) = connections(["internal.example": [["10.0.0.7"]]])
        await #expect(throws: OutboundRefusal.self) { try await outbound.checkedAddress(of: "internal.example", isEndpoint: false) }
        await #expect(throws: OutboundRefusal.self) { try await outbound.checkedAddress(of: "127.0.0.1", isEndpoint: false) }
        #expect(try await outbound.checkedAddress(of: "internal.example", isEndpoint: true).description == "10.0.0.7")
        let (opted, _) = connections(["internal.example": [["10.0.0.7"]]], allowPrivate: true)
        #expect(try await opted.checkedAddress(of: "internal.example", isEndpoint: false).description == "10.0.0.7")
    }

    @Test func aNameThatDoesNotResolveSaysSo() async throws {
        let (outbound, _) = connections([:])
        do {
            _ = try await outbound.checkedAddress(of: "nowhere.example", isEndpoint: false)
            Issue.record("expected a refusal")
        } catch {
            #expect(error.reason.contains("does not resolve"))
        }
    }

    /// The transport tells the caller which kind of failure it was, not a sentence to parse:
    /// the control plane says "check the endpoint" from the case, and a proxy serves stale on it.
    @Test func theTransportReportsAnUnresolvableHostAsSuch() async throws {
        let (outbound, _) = connections([:])
        let transport = HTTPClientTransport(connections: outbound, timeout: .seconds(5), logger: Logger(label: "test"))
        let target = UpstreamTarget(id: "r", name: "r", baseURL: "https://nowhere.example", login: .anonymous)
        await #expect(throws: UpstreamError.unresolvable(host: "nowhere.example")) {
            try await transport.send(UpstreamRequest(method: .GET, url: "https://nowhere.example/v2/", target: target, scope: ""))
        }
        #expect(UpstreamError.unresolvable(host: "nowhere.example").isOutage)
        #expect(UpstreamError.unresolvable(host: "nowhere.example").description == "upstream unreachable: nowhere.example does not resolve")
        await outbound.shutdown()
    }
}

@Suite(.timeLimit(.minutes(1))) struct TokenRealmApprovalTests {
    @Test func aRealmOnAnotherHostGetsNoCredentials() async throws {
        let stranger = UpstreamTarget(id: "reg-9", name: "vendor", baseURL: "https://reg.example", login: .basic(vendorCredentials))
        let registry = TokenRegistry()
        await #expect(throws: UpstreamError.unapprovedLogin(host: "auth.example")) {
            try await registry.auth().send(get("https://reg.example/v2/org/app/manifests/v1", on: stranger))
        }
        #expect(registry.tokenRequests.isEmpty, "nothing went to the unapproved realm")
    }

    @Test func realmsOnTheRegistrysOwnHostAndApprovedHostsAreAccepted() {
        let own = UpstreamTarget(id: "r", name: "r", baseURL: "http://127.0.0.1:5000", login: .anonymous)
        #expect(own.approvesRealm("http://127.0.0.1:5001/token"))
        #expect(!own.approvesRealm("http://localhost:5001/token"))
        let hub = UpstreamTarget(id: "h", name: "h", baseURL: "https://registry-1.docker.io", login: .anonymous,
                                 tokenRealmHosts: UpstreamTarget.knownTokenHosts(forRegistryHost: "registry-1.docker.io"))
        #expect(hub.approvesRealm("https://auth.docker.io/token"))
        #expect(!hub.approvesRealm("https://auth.docker.io.evil.example/token"))
    }

    /// A 401 from where a redirect led is not the registry's challenge: it is not answered.
    @Test func aRedirectTargetAskingForCredentialsGetsNone() async throws {
        let wire = ScriptedTransport(handler: { request in
            if request.url.hasPrefix("https://reg.example/") {
                return response(302, [("Location", "https://cdn.example/blob")])
            }
            return response(401, [("WWW-Authenticate", #"Bearer realm="https://cdn.example/token""#)])
        })
        let redirects = RedirectFollowingTransport(wrapping: wire)
        let auth = ChallengeAuthTransport(wrapping: redirects, exchange: BearerTokenExchange(transport: redirects), tokens: UpstreamTokenCache())
        await #expect(throws: UpstreamError.unapprovedLogin(host: "cdn.example")) {
            try await auth.send(get("https://reg.example/v2/org/app/blobs/sha256:" + String(repeating: "a", count: 64)))
        }
        #expect(wire.requests.map(\.url) == ["https://reg.example/v2/org/app/blobs/sha256:" + String(repeating: "a", count: 64), "https://cdn.example/blob"])
        #expect(wire.requests.allSatisfy { $0.authorization == nil })
    }
}
