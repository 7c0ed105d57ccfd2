import Foundation
import Testing
@testable import ObjectStore

struct S3LocationTests {
    @Test func awsBucketsAreVirtualHosted() throws {
        let location = try S3Location(url: "s3://vendor-blobs/portcullis/prod/", environment: ["AWS_REGION": "eu-west-3"])
        #expect(location.bucket == "vendor-blobs" && location.prefix == "portcullis/prod" && location.region == "eu-west-3")
        #expect(!location.pathStyle)
        let address = location.address("blobs/sha256/ab")
        #expect(address.base == "https://vendor-blobs.s3.eu-west-3.amazonaws.com")
        #expect(address.host == "vendor-blobs.s3.eu-west-3.amazonaws.com")
        #expect(address.path == "/portcullis/prod/blobs/sha256/ab")
    }

    @Test func aCustomEndpointIsPathStyle() throws {
        let env = ["AWS_DEFAULT_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000/", "AWS_ENDPOINT_URL_S3": "http://minio.local:9000"]
        let location = try S3Location(url: "s3://bucket", environment: env)
        #expect(location.pathStyle && location.region == "us-west-2" && location.prefix.isEmpty)
        let address = location.address("blobs/x")
        #expect(address.base == "http://minio.local:9000" && address.host == "minio.local:9000" && address.path == "/bucket/blobs/x")
    }

    @Test func badURLsAreRefusedWithTheReason() {
        for url in ["bucket/prefix", "s3://", "s3://Upper_Case", "https://bucket"] {
            #expect(throws: S3Error.self, "\(url)") { try S3Location(url: url, environment: [:]) }
        }
        #expect(S3Error.service(status: 404, code: "NoSuchKey", message: "").isNotFound)
        #expect(!S3Error.unreachable("refused").isNotFound)
    }
}
