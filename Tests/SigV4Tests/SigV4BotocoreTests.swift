import Foundation
import Testing
import TestSupport
@testable import SigV4

/// Our signer against botocore's on generated requests: awkward paths, repeated and unsorted
/// query parameters, headers with odd spacing and case, bodies, session tokens, presigned URLs.
struct SigV4BotocoreTests {
    struct Case: Encodable {
        var accessKeyID: String
        var secretAccessKey: String
        var sessionToken: String?
        var epoch: Int
        var region: String
        var service: String
        var host: String
        var method: String
        var rawPath: String
        var urlPath: String
        var query: [[String]]
        var encodedQuery: String
        var headers: [[String]]
        var body: String
        var presign: Bool
        var expires: Int
    }

    static func text(_ alphabet: [String], _ range: ClosedRange<Int>, _ rng: inout SeededGenerator) -> String {
        (0..<Int.random(in: range, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
    }

    static func generate(count: Int, seed: UInt64) -> [(Case, SigV4Request, presign: Bool)] {
        var rng = SeededGenerator(state: seed)
        let pathChars = ["a", "Z", "0", "-", "_", ".", "~", " ", "+", "=", "@", "!", "$", "&", "'", "(", ")", "*", ",", ";", ":", "é", "ሴ", "%"]
        let queryChars = pathChars + ["/", "?", "#", "[", "]", "\"", "<", ">"]
        let valueChars = ["a", "b", "Q", "1", " ", "  ", "\t", ",", ";", "=", "é"]
        return (0..<count).map { index in
            let service = ["s3", "ecr", "service", "sts"].randomElement(using: &rng)!
            let presign = service == "s3" && index % 4 == 0
            var segments = (0..<Int.random(in: 0...4, using: &rng)).map { _ in text(pathChars.filter { $0 != "%" }, 1...6, &rng) }
            if service != "s3", Bool.random(using: &rng) { segments.insert([".", ".."].randomElement(using: &rng)!, at: 0) }
            let rawPath = "/" + segments.joined(separator: "/") + (Bool.random(using: &rng) ? "/" : "")
            var query = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                (name: text(presign ? ["a", "B", "-", "_"] : queryChars, 1...5, &rng), value: text(presign ? ["x", "Y", "1"] : queryChars, 0...6, &rng))
            }
            if presign {
                // botocore keeps one value per name in a presigned URL's existing query.
                var seen = Set<String>()
                query = query.filter { seen.insert($0.name).inserted }
            } else if let first = query.first {
                query.append((first.name, "again"))
            }
            var headers: [(name: String, value: String)] = []
            if !presign {
                for n in 0..<Int.random(in: 0...3, using: &rng) {
                    let name = ["X-Custom-\(n)", "x-amz-meta-\(n)", "Content-Type", "cache-control"][n]
                    headers.append((name, " " + text(valueChars, 1...8, &rng) + "x"))
                }
            }
            let body = presign ? "" : text(["{", "}", "a", "é", " ", "\n"], 0...40, &rng)
            let credentials = AWSCredentials(accessKeyID: "AKID" + text(["A", "B", "7"], 8...8, &rng), secretAccessKey: text(["s", "/", "+", "K"], 40...40, &rng),
                                             sessionToken: Bool.random(using: &rng) ? text(["T", "o", "/", "+", "="], 20...60, &rng) : nil)
            let method = presign ? "GET" : ["GET", "PUT", "POST", "DELETE", "HEAD"].randomElement(using: &rng)!
            let epoch = Int.random(in: 1_400_000_000...1_900_000_000, using: &rng)
            let region = ["us-east-1", "eu-west-3", "ap-southeast-2"].randomElement(using: &rng)!
            let host = service == "s3" ? "bucket-\(index).s3.\(region).amazonaws.com" : "\(service).\(region).amazonaws.com"
            let encodedQuery = SigV4Request(method: method, path: rawPath, query: query, payloadHash: "").encodedQuery
            let c = Case(accessKeyID: credentials.accessKeyID, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken,
                         epoch: epoch, region: region, service: service, host: host, method: method, rawPath: rawPath,
                         urlPath: service == "s3" ? SigV4Encoding.path(rawPath) : rawPath,
                         query: query.map { [$0.name, $0.value] }, encodedQuery: encodedQuery, headers: headers.map { [$0.name, $0.value] },
                         body: body, presign: presign, expires: 60 + index)
            var request = SigV4Request(method: method, path: rawPath, query: query, headers: [("host", host)] + headers, body: Array(body.utf8))
            if service == "s3" { request.headers.append(("x-amz-content-sha256", request.payloadHash)) }
            if presign { request.payloadHash = SigV4Signer.unsignedPayload }
            return (c, request, presign)
        }
    }

    static func ours(_ c: Case, _ request: SigV4Request, presign: Bool) -> String {
        let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: c.accessKeyID, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken),
                                 region: c.region, service: c.service)
        let date = Date(timeIntervalSince1970: TimeInterval(c.epoch))
        if presign {
            return signer.presignedQuery(request, host: c.host, expires: c.expires, date: date).first { $0.name == "X-Amz-Signature" }!.value
        }
        return signer.sign(request, date: date).first { $0.name == "Authorization" }!.value
    }

    @Test(.enabled(if: BotocoreOracle.python != nil, "botocore is not installed (pip install botocore, or set PORTCULLIS_PYTHON)"))
    func matchesBotocoreOnGeneratedRequests() throws {
        let cases = Self.generate(count: 400, seed: 0x5167_7634)
        let expected = try BotocoreOracle.sign(cases.map(\.0))
        #expect(expected.count == cases.count)
        var mismatches = 0
        for ((c, request, presign), theirs) in zip(cases, expected) where Self.ours(c, request, presign: presign) != theirs {
            mismatches += 1
            if mismatches <= 5 {
                Issue.record("\(c.service) \(c.method) \(c.rawPath.debugDescription) query \(c.query) headers \(c.headers): ours \(Self.ours(c, request, presign: presign)) botocore \(theirs)")
            }
        }
        #expect(mismatches == 0)
    }
}

/// Runs `botocore_oracle.py` next to this file with a Python that has botocore.
enum BotocoreOracle {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("botocore_oracle.py").path

    static let python = TestPython.find(importing: "botocore")

    static func sign(_ cases: [SigV4BotocoreTests.Case]) throws -> [String] {
        let result = try TestPython.run(python!, [script], input: try JSONEncoder().encode(cases))
        guard result.status == 0 else { throw OracleFailure(message: String(decoding: result.stderr, as: UTF8.self)) }
        return try JSONDecoder().decode([String].self, from: result.stdout)
    }

    struct OracleFailure: Error { var message: String }
}
