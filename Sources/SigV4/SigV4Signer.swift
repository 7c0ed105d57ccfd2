import Crypto
import Foundation

/// A request as Signature Version 4 sees it. `path` and query are raw (not percent-encoded):
/// the signer encodes them, and the caller sends `encodedPath` and `encodedQuery`.
public struct SigV4Request: Sendable, Equatable {
    public var method: String
    public var path: String
    public var query: [(name: String, value: String)]
    /// Header names in any case; several values of one name are joined with commas.
    public var headers: [(name: String, value: String)]
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public var payloadHash: String

    public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
                payloadHash: String) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
    }

    public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
                body: [UInt8]) {
        self.init(method: method, path: path, query: query, headers: headers, payloadHash: SigV4Signer.hex(SHA256.hash(data: body)))
    }

    public static func == (a: SigV4Request, b: SigV4Request) -> Bool {
        a.method == b.method && a.path == b.path && a.payloadHash == b.payloadHash
            && a.query.elementsEqual(b.query, by: { $0 == $1 }) && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
    }

    public var encodedQuery: String {
        query.map { SigV4Encoding.encode($0.name) + "=" + SigV4Encoding.encode($0.value) }.joined(separator: "&")
    }
}

/// AWS Signature Version 4: the canonical request, the string to sign, the signing key, and
/// the signature — in a header or in a presigned URL's query. One implementation for every
/// AWS call Portcullis makes (S3 for blobs, ECR for upstream tokens).
public struct SigV4Signer: Sendable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// `20150830T123600Z`
    public static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0" + String(n) : String(n) }
        let day = String(parts.tm_year + 1900) + two(parts.tm_mon + 1) + two(parts.tm_mday)
        let time = two(parts.tm_hour) + two(parts.tm_min) + two(parts.tm_sec)
        return day + "T" + time + "Z"
    }

    private var scopeSuffix: String { "\(region)/\(service)/aws4_request" }

    /// S3 signs the path as sent; every other service signs it normalized.
    func canonicalURI(_ path: String) -> String {
        SigV4Encoding.path(service == "s3" ? path : SigV4Encoding.normalized(path))
    }

    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (SigV4Encoding.encode($0.name), SigV4Encoding.encode($0.value)) }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// Lower-case names, sorted; values trimmed with inner runs of whitespace collapsed to one space; repeats joined by commas.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (block: String, signed: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed)
        }
        let names = merged.keys.sorted()
        let block = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    public func canonicalRequest(_ request: SigV4Request) -> (text: String, signedHeaders: String) {
        let headers = Self.canonicalHeaders(request.headers)
        let text = [request.method.uppercased(), canonicalURI(request.path), Self.canonicalQuery(request.query), headers.block,
                    headers.signed, request.payloadHash].joined(separator: "\n")
        return (text, headers.signed)
    }

    public func stringToSign(canonicalRequest: String, date: Date) -> String {
        let stamp = Self.timestamp(date)
        return [Self.algorithm, stamp, "\(stamp.prefix(8))/\(scopeSuffix)", Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
    }

    public func signingKey(date: Date) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
        }
        let day = String(Self.timestamp(date).prefix(8))
        var key = hmac(SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8)), day)
        key = hmac(key, region)
        key = hmac(key, service)
        return hmac(key, "aws4_request")
    }

    public func signature(stringToSign: String, date: Date) -> String {
        Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(date: date)))
    }

    /// The headers to add to `request` to send it signed: `x-amz-date`, `x-amz-security-token`
    /// (for temporary credentials) and `Authorization`. `request.headers` must already hold
    /// `host` and every other header to be signed.
    public func sign(_ request: SigV4Request, date: Date = Date()) -> [(name: String, value: String)] {
        var signed = request
        var added: [(name: String, value: String)] = [("x-amz-date", Self.timestamp(date))]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        signed.headers += added
        let canonical = canonicalRequest(signed)
        let signature = signature(stringToSign: stringToSign(canonicalRequest: canonical.text, date: date), date: date)
        let credential = "\(credentials.accessKeyID)/\(Self.timestamp(date).prefix(8))/\(scopeSuffix)"
        added.append(("Authorization", "\(Self.algorithm) Credential=\(credential), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"))
        return added
    }

    /// The query that makes `request` a presigned URL valid for `expires` seconds; only `host`
    /// is signed and the payload is unsigned, as S3 presigned GETs are.
    public func presignedQuery(_ request: SigV4Request, host: String, expires: Int, date: Date = Date()) -> [(name: String, value: String)] {
        let stamp = Self.timestamp(date)
        var query = request.query
        query += [("X-Amz-Algorithm", Self.algorithm),
                  ("X-Amz-Credential", "\(credentials.accessKeyID)/\(stamp.prefix(8))/\(scopeSuffix)"),
                  ("X-Amz-Date", stamp),
                  ("X-Amz-Expires", String(expires)),
                  ("X-Amz-SignedHeaders", "host")]
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        let unsigned = SigV4Request(method: request.method, path: request.path, query: query, headers: [("host", host)],
                                    payloadHash: Self.unsignedPayload)
        let canonical = canonicalRequest(unsigned)
        query.append(("X-Amz-Signature", signature(stringToSign: stringToSign(canonicalRequest: canonical.text, date: date), date: date)))
        return query
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 0xf)])
        }
        return s
    }

    public static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }

    static func hex(_ mac: HashedAuthenticationCode<SHA256>) -> String { hex(Array(mac)) }
}
