import Testing
import TestSupport
@testable import OCI

/// Strings built from the characters that matter to these parsers, plus arbitrary ones.
func hostileString(_ rng: inout SeededGenerator, maxLength: Int = 300) -> String {
    let alphabet: [Character] = Array("abz09AZ/.:-_%@=,\" \\\t\n#?*{}sha256bytes=0123456789") + ["\u{0}", "é", "\u{7f}"]
    return String((0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
}

@Suite struct GeneratedInputTests {
    @Test func parsersNeverCrashAndRoundTrip() {
        var rng = SeededGenerator(state: 20261121)
        for _ in 0..<20_000 {
            let s = hostileString(&rng)
            if let name = try? RepositoryName(parsing: s) {
                #expect(name.description == s)
                #expect(!s.contains("..") && !s.contains("%") && !s.hasPrefix("/"))
            }
            if let d = try? Digest(parsing: s) { #expect(d.description == s) }
            if let parsed = try? RegistryPath.parse("/v2/" + s), let repo = parsed.repository {
                #expect(!repo.description.contains(".."))
            }
            switch ByteRange.parse(s, length: 1000) {
            case .partial(let r): #expect(r.start >= 0 && r.end < 1000 && r.start <= r.end)
            case .whole, .unsatisfiable: break
            }
            _ = AuthChallenge.parse(s)
            _ = RepositoryScope.parseAll(s)
            _ = BasicCredentials.parse(authorization: "Basic " + s)
            if let ref = ImageReference.parse(s) { #expect(ImageReference.parse(ref.description) == ref) }
            _ = try? ManifestSummary(parsing: Array(s.utf8), contentType: nil)
        }
    }

    @Test func rangesAgreeWithAReferenceModel() {
        var rng = SeededGenerator(state: 7)
        for _ in 0..<20_000 {
            let length = Int64.random(in: 0...50, using: &rng)
            let a = Int64.random(in: -2...60, using: &rng), b = Int64.random(in: -2...60, using: &rng)
            let forms = ["bytes=\(a)-\(b)", "bytes=\(a)-", "bytes=-\(b)"]
            for header in forms {
                switch ByteRange.parse(header, length: length) {
                case .partial(let r):
                    #expect(r.start >= 0 && r.start <= r.end && r.end < length, "\(header) len \(length)")
                case .unsatisfiable:
                    #expect(length == 0 || a >= length || header.hasPrefix("bytes=-") || (header == "bytes=\(a)-\(b)" && b < a),
                            "\(header) len \(length)")
                case .whole:
                    break
                }
            }
        }
    }
}
