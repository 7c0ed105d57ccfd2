import AsyncHTTPClient
import Connectivity
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SigV4

/// Where a bucket is and how to reach it.
public struct S3Location: Sendable, Equatable {
    public var bucket: String
    /// Key prefix without leading or trailing slashes; empty for the bucket's root.
    public var prefix: String
    public var region: String
    /// `https://s3.<region>.amazonaws.com`, or a non-AWS endpoint (which is then addressed path-style).
    public var endpoint: String
    public var pathStyle: Bool

    /// `s3://BUCKET[/PREFIX]`, with the region and endpoint from the standard AWS variables.
    public init(url: String, environment env: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard url.hasPrefix("s3://") else { throw S3Error.configuration("the blob store must be s3://BUCKET[/PREFIX], got \(url.debugDescription)") }
        let rest = url.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty, bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw S3Error.configuration("invalid bucket name in \(url.debugDescription)")
        }
        self.bucket = bucket
        prefix = String(rest.dropFirst(bucket.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        region = AWSEndpoints.region(env) ?? "us-east-1"
        if let custom = AWSEndpoints.override(service: "s3", env) {
            var e = custom
            while e.hasSuffix("/") { e.removeLast() }
            endpoint = e
            pathStyle = true
        } else {
            endpoint = "https://s3.\(region).amazonaws.com"
            pathStyle = false
        }
    }

    /// The object's URL and the raw path signed for it.
    func address(_ key: String) -> (base: String, host: String, path: String) {
        let full = prefix.isEmpty ? key : prefix + "/" + key
        guard let url = URL(string: endpoint), let scheme = url.scheme, let host = url.host else {
            return (endpoint, "", "/" + bucket + "/" + full)
        }
        let port = url.port.map { ":\($0)" } ?? ""
        if pathStyle {
            return ("\(scheme)://\(host)\(port)", host + port, "/\(bucket)/\(full)")
        }
        return ("\(scheme)://\(bucket).\(host)\(port)", "\(bucket).\(host)\(port)", "/\(full)")
    }
}

/// What went wrong talking to the object store.
public enum S3Error: Error, CustomStringConvertible, Equatable {
    case configuration(String)
    /// The store answered with an error (`NoSuchKey`, `InvalidAccessKeyId`, …).
    case service(status: Int, code: String, message: String)
    /// It could not be reached, or the connection broke.
    case unreachable(String)

    public var description: String {
        switch self {
        case .configuration(let m): m
        case .service(let status, let code, let message): "object store answered \(status) \(code): \(message)"
        case .unreachable(let m): "object store unreachable: \(m)"
        }
    }

    public var isNotFound: Bool {
        if case .service(404, _, _) = self { return true }
        return false
    }
}

/// The S3 API calls the blob store makes, signed with Signature Version 4.
public struct S3Client: Sendable {
    public let location: S3Location
    let credentials: AWSCredentials
    let http: HTTPClient
    let logger: Logger

    public init(location: S3Location, credentials: AWSCredentials, http: HTTPClient, logger: Logger) {
        self.location = location
        self.credentials = credentials
        self.http = http
        self.logger = logger
    }

    var signer: SigV4Signer { SigV4Signer(credentials: credentials, region: location.region, service: "s3") }

    /// A signed request for `key` (`""` for the bucket itself).
    func request(_ method: HTTPMethod, key: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
                 payloadHash: String = SigV4Signer.emptyPayloadHash) -> HTTPClientRequest {
        var address = location.address(key)
        if key.isEmpty, location.pathStyle { address.path = "/" + location.bucket }
        if key.isEmpty, !location.pathStyle { address.path = "/" }
        let all = headers + [("host", address.host), ("x-amz-content-sha256", payloadHash)]
        let signed = signer.sign(SigV4Request(method: method.rawValue, path: address.path, query: query, headers: all, payloadHash: payloadHash))
        let sigRequest = SigV4Request(method: method.rawValue, path: address.path, query: query, payloadHash: payloadHash)
        var url = address.base + SigV4Encoding.path(address.path)
        if !query.isEmpty { url += "?" + sigRequest.encodedQuery }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in all where name != "host" { request.headers.add(name: name, value: value) }
        for (name, value) in signed { request.headers.add(name: name, value: value) }
        return request
    }

    func send(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(60)) async throws -> HTTPClientResponse {
        do {
            return try await http.execute(request, timeout: timeout, logger: logger.forHTTPClient)
        } catch {
            throw S3Error.unreachable(String(describing: error).prefix(200).description)
        }
    }

    /// Fails with the store's error code unless the status is 2xx.
    func check(_ response: HTTPClientResponse) async throws {
        guard !(200..<300).contains(response.status.code) else { return }
        let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
        throw S3Error.service(status: Int(response.status.code), code: Self.element("Code", in: body) ?? "\(response.status.code)",
                              message: Self.element("Message", in: body) ?? response.status.reasonPhrase)
    }

    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else {
            return nil
        }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    // MARK: Calls

    /// Checks that the bucket exists and the credentials are accepted.
    public func headBucket() async throws {
        let response = try await send(request(.HEAD, key: ""))
        if response.status.code == 403 {
            throw S3Error.service(status: 403, code: "AccessDenied", message: "the object store refused the credentials for bucket \(location.bucket)")
        }
        if response.status.code == 404 {
            throw S3Error.service(status: 404, code: "NoSuchBucket", message: "bucket \(location.bucket) does not exist")
        }
        try await check(response)
    }

    /// The object's size, or nil when there is no such object.
    public func size(_ key: String) async throws -> Int64? {
        let response = try await send(request(.HEAD, key: key))
        if response.status.code == 404 { return nil }
        try await check(response)
        guard let length = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }) else {
            throw S3Error.service(status: Int(response.status.code), code: "NoLength", message: "HEAD without Content-Length")
        }
        return length
    }

    /// Bytes `start...end` (inclusive) of an object, as they arrive.
    public func get(_ key: String, start: Int64, end: Int64) async throws -> HTTPClientResponse.Body {
        let response = try await send(request(.GET, key: key, headers: [("range", "bytes=\(start)-\(end)")]), timeout: .seconds(300))
        try await check(response)
        return response.body
    }

    public func put(_ key: String, body: ByteBuffer) async throws {
        var req = request(.PUT, key: key, headers: [("content-length", String(body.readableBytes))],
                          payloadHash: SigV4Signer.hex(SHA256Hex.digest(body)))
        req.body = .bytes(body)
        try await check(try await send(req))
    }

    /// Puts `length` bytes produced by `body`, whose SHA-256 is `payloadHash`.
    public func put(_ key: String, query: [(name: String, value: String)] = [], length: Int64, payloadHash: String,
                    body: @escaping @Sendable () -> AsyncThrowingStream<ByteBuffer, any Error>) async throws -> HTTPClientResponse {
        var req = request(.PUT, key: key, query: query, headers: [("content-length", String(length))], payloadHash: payloadHash)
        req.body = .stream(body(), length: .known(length))
        let response = try await send(req, timeout: .seconds(600))
        try await check(response)
        return response
    }

    public func delete(_ key: String) async throws {
        let response = try await send(request(.DELETE, key: key))
        if response.status.code == 404 { return }
        try await check(response)
    }

    public func createMultipartUpload(_ key: String) async throws -> String {
        let response = try await send(request(.POST, key: key, query: [("uploads", "")]))
        try await check(response)
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard let id = Self.element("UploadId", in: body) else {
            throw S3Error.service(status: Int(response.status.code), code: "NoUploadId", message: "no UploadId in the answer")
        }
        return id
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, etags: [String]) async throws {
        let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>" }.joined()
        let xml = ByteBuffer(string: "<CompleteMultipartUpload>\(parts)</CompleteMultipartUpload>")
        var req = request(.POST, key: key, query: [("uploadId", uploadID)], headers: [("content-length", String(xml.readableBytes))],
                          payloadHash: SigV4Signer.hex(SHA256Hex.digest(xml)))
        req.body = .bytes(xml)
        let response = try await send(req, timeout: .seconds(300))
        try await check(response)
        // S3 can answer 200 and put an error in the body.
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        if let code = Self.element("Code", in: body) {
            throw S3Error.service(status: 200, code: code, message: Self.element("Message", in: body) ?? "")
        }
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async {
        _ = try? await send(request(.DELETE, key: key, query: [("uploadId", uploadID)]))
    }

    /// A URL anyone can GET the object with until it expires.
    public func presignedGet(_ key: String, expires: Int, date: Date = Date()) -> String {
        let address = location.address(key)
        let query = signer.presignedQuery(SigV4Request(method: "GET", path: address.path, payloadHash: SigV4Signer.unsignedPayload),
                                          host: address.host, expires: expires, date: date)
        let encoded = SigV4Request(method: "GET", path: address.path, query: query, payloadHash: "").encodedQuery
        return address.base + SigV4Encoding.path(address.path) + "?" + encoded
    }
}

import Crypto

enum SHA256Hex {
    static func digest(_ buffer: ByteBuffer) -> SHA256.Digest {
        buffer.withUnsafeReadableBytes { SHA256.hash(data: $0) }
    }
}
