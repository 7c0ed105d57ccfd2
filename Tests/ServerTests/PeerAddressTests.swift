import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Access
import Logging
import OCI
import Storage
import Testing
import Upstream
@testable import Server

@Suite struct PeerAddressTests {
    @Test func advertisedURLsAreCheckedAndAnUnbracketedIPv6AddressIsBracketed() {
        #expect(ServerConfiguration.advertiseURL(parsing: "http://10.0.3.7:8080") == "http://10.0.3.7:8080")
        #expect(ServerConfiguration.advertiseURL(parsing: "https://replica-1.registry.svc:8443/") == "https://replica-1.registry.svc:8443")
        // What `http://$(POD_IP):8080` becomes on an IPv6 cluster.
        #expect(ServerConfiguration.advertiseURL(parsing: "http://fd00:10:244::7:8080") == "http://[fd00:10:244::7]:8080")
        #expect(ServerConfiguration.advertiseURL(parsing: "http://[fd00::7]:8080") == "http://[fd00::7]:8080")
        for refused in ["10.0.3.7:8080", "ftp://10.0.3.7", "http://", "http://$(POD_IP):8080", "http://a b:80", "http://10.0.0.1:80/path"] {
            #expect(ServerConfiguration.advertiseURL(parsing: refused) == nil, "\(refused)")
        }
    }

    @Test func withoutOneTheListenAddressIsAdvertisedWhenItNamesOneHost() {
        var config = ServerConfiguration()
        config.host = "10.0.3.7"
        config.port = 8080
        #expect(config.peerAddress == "http://10.0.3.7:8080")
        config.tlsCertificatePath = "/tls/tls.crt"
        #expect(config.peerAddress == "https://10.0.3.7:8080")
        config.host = "fd00::7"
        #expect(config.peerAddress == "https://[fd00::7]:8080")
        for wildcard in ["0.0.0.0", "::"] {
            config.host = wildcard
            #expect(config.peerAddress == nil, "\(wildcard) names no address another machine can use")
        }
        config.advertiseURL = "http://10.0.3.7:8080"
        #expect(config.peerAddress == "http://10.0.3.7:8080")
    }

    @Test func theListenAddressIsNamedAsClientsCanUseIt() {
        var config = ServerConfiguration()
        config.host = "10.0.3.7"
        config.port = 8080
        #expect(PublicAddress.listenAddress(config) == "10.0.3.7:8080")
        config.host = "fd00::7"
        #expect(PublicAddress.listenAddress(config) == "[fd00::7]:8080")
        for wildcard in ["0.0.0.0", "::", ""] {
            config.host = wildcard
            #expect(PublicAddress.listenAddress(config) == "localhost:8080")
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct PeerFillClientTests {
    /// A listening socket that never accepts: connections complete in the kernel, answers never come.
    static func silentListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        #expect(bound == 0 && listen(fd, 16) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    func client(_ http: HTTPClient) throws -> PeerFillClient {
        PeerFillClient(http: http, pass: PeerPass(box: try SecretBox(keyBytes: SecretBox.generateKeyBytes())), logger: Logger(label: "test"),
                       answerTimeout: .milliseconds(300), restAfterFailure: 30)
    }

    @Test func aReplicaThatCannotBeReachedIsLeftAloneForAWhile() async throws {
        let http = HTTPClientTransport.makeHTTPClient()
        defer { _ = http.shutdown() }
        let peers = try client(http)
        // Nothing listens there: refused.
        let (fd, port) = try Self.silentListener()
        close(fd)
        let peer = "http://127.0.0.1:\(port)"
        #expect(await peers.open(Digest.of(Array("x".utf8)), from: peer) == nil)
        #expect(peers.isResting(peer))
        #expect(!peers.isResting(peer, now: Date().addingTimeInterval(31)))
    }

    @Test func aReplicaSlowToAnswerIsAskedAgainLater() async throws {
        let http = HTTPClientTransport.makeHTTPClient()
        defer { _ = http.shutdown() }
        let peers = try client(http)
        let (fd, port) = try Self.silentListener()
        defer { close(fd) }
        let peer = "http://127.0.0.1:\(port)"
        let started = Date()
        #expect(await peers.open(Digest.of(Array("x".utf8)), from: peer) == nil)
        #expect(Date().timeIntervalSince(started) < 5, "the answer head is waited for a bounded time")
        #expect(!peers.isResting(peer), "a replica that connects but has no answer yet is not put aside")
    }
}
