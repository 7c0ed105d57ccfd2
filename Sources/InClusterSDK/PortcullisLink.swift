import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import PortcullisAPI

/// The SDK's calls to Portcullis (`SDKAPI`), authenticated with the license. Never made in
/// air-gap mode: the SDK does not create a link then.
public struct PortcullisLink: Sendable {
    let endpoint: String
    let licenseID: String
    let client: HTTPClient

    public struct Failed: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(endpoint: String, licenseID: String, caCertificate: String?) {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = base
        self.licenseID = licenseID
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(15))
        // Refused is an answer: said at once, not retried until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let caCertificate {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caCertificate)
            configuration.tlsConfiguration = tls
        }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    public func license() async throws -> SDKLicenseBody {
        try await call(SDKAPI.license, path: SDKAPI.license.path())
    }

    /// The releases after the one running: its position on the channel it came from, the
    /// release itself and that channel, so Portcullis can tell when the license has moved to
    /// another channel since (positions of two channels do not compare).
    public func updates(after channelSequence: Int, releaseSequence: Int, channelID: String) async throws -> [ChannelReleaseBody] {
        var query = [("channelSequence", String(channelSequence)), ("releaseSequence", String(releaseSequence))]
        if !channelID.isEmpty { query.append(("channelID", channelID)) }
        return try await call(SDKAPI.updates, path: SDKAPI.updates.path(query: query)).channelReleases
    }

    public func report(_ report: InstanceReport) async throws {
        _ = try await call(SDKAPI.instances, path: SDKAPI.instances.path(), body: report)
    }

    private func call<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, path: String, body: Body? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: self.endpoint + SDKAPI.prefix + path)
        request.method = HTTPMethod(rawValue: endpoint.method.rawValue)
        request.headers.add(name: "Authorization", value: "Basic " + Data("sdk:\(licenseID)".utf8).base64EncodedString())
        request.headers.add(name: "User-Agent", value: "portcullis-sdk/\(portcullisVersion)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try APICoding.encoder.encode(body)))
        }
        let response = try await client.execute(request, timeout: .seconds(15))
        let bytes = try await response.body.collect(upTo: 8 << 20)
        guard (200..<300).contains(response.status.code) else {
            let message = (try? APICoding.decoder.decode(APIErrorBody.self, from: Data(bytes.readableBytesView)))?.error
            throw Failed(description: "Portcullis answered \(response.status.code)\(message.map { ": \($0)" } ?? "")")
        }
        if let nothing = Nothing() as? Answer { return nothing }
        return try APICoding.decoder.decode(Answer.self, from: Data(bytes.readableBytesView))
    }
}
