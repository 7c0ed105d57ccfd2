import Foundation
import Testing
@testable import SigV4

/// AWS's published Signature Version 4 test suite (the `service`/`us-east-1` vectors every
/// SDK checks itself against) and the worked S3 examples from the S3 API reference.
struct SigV4VectorTests {
    static let suiteCredentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "GET"
        var path = "/"
        var query: [(name: String, value: String)] = []
        var headers: [(name: String, value: String)] = []
        var body = ""
        var signedHeaders = "host;x-amz-date"
        var signature: String

        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "get-vanilla", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(name: "post-vanilla", method: "POST", signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Vector(name: "get-header-key-duplicate", headers: [("my-header1", "value2,value2,value1")], signedHeaders: "host;my-header1;x-amz-date",
               signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        Vector(name: "get-header-value-order", headers: [("my-header1", "value4,value1,value3,value2")], signedHeaders: "host;my-header1;x-amz-date",
               signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
        Vector(name: "get-header-value-trim", headers: [("my-header1", "value1"), ("my-header2", "\"a   b   c\"")],
               signedHeaders: "host;my-header1;my-header2;x-amz-date", signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        Vector(name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
               signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Vector(name: "get-utf8", path: "/ሴ", signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        Vector(name: "get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
               signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Vector(name: "get-vanilla-query-unreserved",
               query: [("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                        "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")],
               signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        Vector(name: "get-vanilla-utf8-query", query: [("ሴ", "bar")], signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        Vector(name: "post-header-key-sort", method: "POST", headers: [("My-Header1", "value1")], signedHeaders: "host;my-header1;x-amz-date",
               signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        Vector(name: "post-header-value-case", method: "POST", headers: [("my-header1", "VALUE1")], signedHeaders: "host;my-header1;x-amz-date",
               signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        Vector(name: "post-vanilla-query", method: "POST", query: [("Param1", "value1")],
               signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        Vector(name: "post-vanilla-query-nonunreserved", method: "POST", query: [("@#$%^", ""), ("+", "/,?><`\";:\\|][{}")],
               signature: "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"),
        Vector(name: "post-vanilla-query-space", method: "POST", query: [("p", "")],
               signature: "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b"),
        Vector(name: "post-x-www-form-urlencoded", method: "POST", headers: [("Content-Type", "application/x-www-form-urlencoded")],
               body: "Param1=value1", signedHeaders: "content-type;host;x-amz-date",
               signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        Vector(name: "post-x-www-form-urlencoded-parameters", method: "POST",
               headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf8")],
               body: "Param1=value1", signedHeaders: "content-type;host;x-amz-date",
               signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
    ]

    @Test(arguments: vectors)
    func suiteVector(_ v: Vector) {
        let signer = SigV4Signer(credentials: Self.suiteCredentials, region: "us-east-1", service: "service")
        let request = SigV4Request(method: v.method, path: v.path, query: v.query, headers: [("Host", "example.amazonaws.com")] + v.headers,
                                   body: Array(v.body.utf8))
        let added = signer.sign(request, date: Self.suiteDate)
        #expect(added.first { $0.name == "x-amz-date" }?.value == "20150830T123600Z")
        let expected = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=\(v.signedHeaders), Signature=\(v.signature)"
        #expect(added.first { $0.name == "Authorization" }?.value == expected)
    }

    static let s3Credentials = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    /// The S3 reference's "GET object" example: a ranged GET, payload hash in a header.
    @Test func s3HeaderExample() {
        let signer = SigV4Signer(credentials: Self.s3Credentials, region: "us-east-1", service: "s3")
        let added = signer.sign(SigV4Request(method: "GET", path: "/test.txt",
                                             headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                                                       ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
                                             payloadHash: SigV4Signer.emptyPayloadHash), date: Self.s3Date)
        #expect(added.first { $0.name == "Authorization" }?.value == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    /// The S3 reference's presigned URL example: a day-long GET.
    @Test func s3PresignedExample() {
        let signer = SigV4Signer(credentials: Self.s3Credentials, region: "us-east-1", service: "s3")
        let query = signer.presignedQuery(SigV4Request(method: "GET", path: "/test.txt", payloadHash: SigV4Signer.unsignedPayload),
                                          host: "examplebucket.s3.amazonaws.com", expires: 86400, date: Self.s3Date)
        #expect(query.first { $0.name == "X-Amz-Signature" }?.value == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        #expect(query.first { $0.name == "X-Amz-Credential" }?.value == "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request")
    }

    @Test func temporaryCredentialsSignTheSessionToken() {
        var credentials = Self.suiteCredentials
        credentials.sessionToken = "token/with+chars"
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "service")
        let added = signer.sign(SigV4Request(method: "GET", path: "/", headers: [("host", "example.amazonaws.com")], body: []),
                                date: Self.suiteDate)
        #expect(added.contains { $0.name == "x-amz-security-token" && $0.value == "token/with+chars" })
        #expect(added.first { $0.name == "Authorization" }?.value.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }

    @Test func encodingAndNormalization() {
        #expect(SigV4Encoding.encode("a b/c~é") == "a%20b%2Fc~%C3%A9")
        #expect(SigV4Encoding.path("/a b/c") == "/a%20b/c")
        #expect(SigV4Encoding.normalized("/foo/../bar/./baz//") == "/bar/baz/")
        #expect(SigV4Encoding.normalized("/..") == "/")
        #expect(SigV4Signer.timestamp(Self.suiteDate) == "20150830T123600Z")
    }
}
