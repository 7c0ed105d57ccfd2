import Testing
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
}
