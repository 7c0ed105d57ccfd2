import Foundation
import NIOCore
import NIOHTTP1
import SigV4

/// A registry password from ECR and the moment ECR says it runs out.
public struct ECRRegistryToken: Sendable, Equatable {
    /// Base64 of `AWS:<password>`: the value of a Basic `Authorization` header as it is.
    public var basicValue: String
    public var expiresAt: Date?

    /// How long to reuse the token: until five minutes before it runs out, and at least a
    /// minute. A token without an expiry, or with one already past (some ECR-compatible
    /// services send that), is treated as short-lived, so it costs one request a minute,
    /// never one per pull; a registry that refuses it earlier causes one refresh.
    public func reuseUntil(now: Date) -> Date {
        let floor = now.addingTimeInterval(60)
        guard let expiresAt else { return floor }
        return max(floor, expiresAt.addingTimeInterval(-300))
    }
}

/// Calls ECR's `GetAuthorizationToken` (JSON 1.1 protocol, SigV4-signed) at
/// `https://api.ecr.<region>.amazonaws.com`, or at the endpoint the environment names.
public struct ECRTokenClient: Sendable {
    let transport: any UpstreamTransport
    /// `AWS_ENDPOINT_URL_ECR` (or `AWS_ENDPOINT_URL`): a non-AWS endpoint, e.g. a local test service.
    let endpointOverride: String?

    public init(transport: any UpstreamTransport, endpointOverride: String? = AWSEndpoints.override(service: "ECR")) {
        self.transport = transport
        self.endpointOverride = endpointOverride
    }

    func endpoint(region: String) -> String {
        var base = endpointOverride ?? "https://api.ecr.\(region).amazonaws.com"
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    public func token(_ access: ECRAccess, for target: UpstreamTarget, now: Date = Date()) async throws -> ECRRegistryToken {
        let base = endpoint(region: access.region)
        guard let url = URL(string: base), let host = url.host else { throw UpstreamError.invalidResponse("unusable ECR endpoint") }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        let body = Array("{}".utf8)
        let headers: [(name: String, value: String)] = [
            ("host", hostHeader),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"),
        ]
        let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: access.accessKeyID, secretAccessKey: access.secretAccessKey),
                                 region: access.region, service: "ecr")
        let path = url.path.isEmpty ? "/" : url.path
        var outgoing = HTTPHeaders()
        for (name, value) in headers + signer.sign(SigV4Request(method: "POST", path: path, headers: headers, body: body), date: now)
        where name != "host" {
            outgoing.add(name: name, value: value)
        }
        let response = try await transport.send(UpstreamRequest(method: .POST, url: base + (url.path.isEmpty ? "/" : ""), headers: outgoing,
                                                                body: ByteBuffer(bytes: body), target: target, scope: "ecr"))
        let document: ByteBuffer
        do {
            document = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw UpstreamError.unreachable("ECR token response interrupted")
        }
        guard response.status == 200 else { throw Self.failure(status: response.status, headers: response.headers, body: document) }
        struct Reply: Decodable {
            struct Data: Decodable {
                var authorizationToken: String?
                var expiresAt: Double?
            }
            var authorizationData: [Data]?
        }
        guard let reply = try? JSONDecoder().decode(Reply.self, from: Data(document.readableBytesView)),
              let data = reply.authorizationData?.first, let token = data.authorizationToken,
              let decoded = Data(base64Encoded: token).flatMap({ String(data: $0, encoding: .utf8) }), decoded.contains(":") else {
            throw UpstreamError.invalidResponse("ECR returned no usable authorization token")
        }
        return ECRRegistryToken(basicValue: token, expiresAt: data.expiresAt.map { Date(timeIntervalSince1970: $0) })
    }

    /// ECR's refusal in the proxy's terms. The error body is never passed on: it may quote
    /// the request.
    static func failure(status: Int, headers: HTTPHeaders, body: ByteBuffer) -> UpstreamError {
        struct Fault: Decodable { var __type: String? }
        let kind = (try? JSONDecoder().decode(Fault.self, from: Data(body.readableBytesView)))?.__type
            .map { String($0.split(separator: "#").last ?? Substring($0)) } ?? ""
        if kind.contains("Throttling") || status == 429 { return .rateLimited(retryAfter: headers.first(name: "Retry-After").flatMap { Int($0) }) }
        if (400...403).contains(status) { return .authenticationFailed }
        return UpstreamError.from(status: status, headers: headers)
    }
}
