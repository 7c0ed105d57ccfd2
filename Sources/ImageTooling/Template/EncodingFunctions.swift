import Charts
import Crypto
import Foundation
import enum OCI.JSONString

/// Helm's YAML and JSON functions, sprig's encodings, hashes and semver. YAML and JSON round
/// trips keep the origins of the strings in them.
enum EncodingFunctions {
    static let all: [String: TemplateFunction] = [
        "toYaml": { _, args, _ in one(args, "toYaml") { .string(TracedYAML.write($0)) } },
        "mustToYaml": { _, args, _ in one(args, "mustToYaml") { .string(TracedYAML.write($0)) } },
        "toYamlPretty": { _, args, _ in one(args, "toYamlPretty") { .string(TracedYAML.write($0)) } },
        "fromYaml": { _, args, _ in one(args, "fromYaml") { $0.text.map { TracedYAML.parse($0, array: false) } ?? $0 } },
        "fromYamlArray": { _, args, _ in one(args, "fromYamlArray") { $0.text.map { TracedYAML.parse($0, array: true) } ?? $0 } },
        "toJson": { _, args, _ in one(args, "toJson") { .string(json($0, htmlSafe: true)) } },
        "mustToJson": { _, args, _ in one(args, "mustToJson") { .string(json($0, htmlSafe: true)) } },
        "toRawJson": { _, args, _ in one(args, "toRawJson") { .string(json($0, htmlSafe: false)) } },
        "mustToRawJson": { _, args, _ in one(args, "mustToRawJson") { .string(json($0, htmlSafe: false)) } },
        "toPrettyJson": { _, args, _ in one(args, "toPrettyJson") { .text(prettyJSON($0)) } },
        "mustToPrettyJson": { _, args, _ in one(args, "mustToPrettyJson") { .text(prettyJSON($0)) } },
        "fromJson": { _, args, _ in one(args, "fromJson") { fromJSON($0.string, array: false) } },
        "mustFromJson": { _, args, _ in one(args, "mustFromJson") { fromJSON($0.string, array: false) } },
        "fromJsonArray": { _, args, _ in one(args, "fromJsonArray") { fromJSON($0.string, array: true) } },
        "b64enc": { _, args, _ in one(args, "b64enc") { .text(Data($0.string.utf8).base64EncodedString()) } },
        "b64dec": { _, args, _ in
            one(args, "b64dec") { v in
                guard let data = Data(base64Encoded: v.string), let s = String(data: data, encoding: .utf8) else { return .text("") }
                return .text(s)
            }
        },
        "b32enc": { _, args, _ in one(args, "b32enc") { .text(base32(Array($0.string.utf8))) } },
        "sha1sum": { _, args, _ in one(args, "sha1sum") { .text(hex(Insecure.SHA1.hash(data: Data($0.string.utf8)))) } },
        "sha256sum": { _, args, _ in one(args, "sha256sum") { .text(hex(SHA256.hash(data: Data($0.string.utf8)))) } },
        "sha512sum": { _, args, _ in one(args, "sha512sum") { .text(hex(SHA512.hash(data: Data($0.string.utf8)))) } },
        "adler32sum": { _, args, _ in one(args, "adler32sum") { .text(String(adler32(Array($0.string.utf8)))) } },
        "semver": { _, args, _ in
            one(args, "semver") { v in
                guard let version = SemVer.Version(v.string) else { return .unknown("semver: \(v.string.debugDescription) is not a version") }
                return .dict(["Major": .int(version.major, nil), "Minor": .int(version.minor, nil), "Patch": .int(version.patch, nil),
                              "Prerelease": .text(version.prerelease.joined(separator: ".")), "Metadata": .text(version.metadata),
                              "Original": .text(v.string)])
            }
        },
        "semverCompare": { _, args, _ in
            guard args.count == 2 else { return TemplateFunctions.arity("semverCompare") }
            guard let constraint = SemVer.Constraint(args[0].string) else {
                return .unknown("semverCompare: \(args[0].string.debugDescription) is not a version constraint")
            }
            guard let version = SemVer.Version(args[1].string) else {
                return .unknown("semverCompare: \(args[1].string.debugDescription) is not a version")
            }
            return .bool(constraint.isSatisfied(by: version))
        },
    ]

    static func one(_ args: [TemplateValue], _ name: String, _ f: (TemplateValue) -> TemplateValue) -> TemplateValue {
        guard args.count == 1 else { return TemplateFunctions.arity(name) }
        return f(args[0])
    }

    /// JSON as Go's encoder writes it: keys sorted, `<`, `>` and `&` escaped unless raw. Strings
    /// that need no escaping keep their origins.
    static func json(_ value: TemplateValue, htmlSafe: Bool) -> TracedText {
        switch value {
        case .string(let t):
            let escaped = jsonString(t.string, htmlSafe: htmlSafe)
            return escaped == "\"" + t.string + "\"" ? .computed("\"") + t + .computed("\"") : .computed(escaped)
        case .bool(let b): return .computed(b ? "true" : "false")
        case .int(let i, _): return .computed(String(i))
        case .float(let d, _): return .computed(GoFormat.json(d))
        case .null: return .computed("null")
        case .unknown(let why): return .computed("<unknown: \(why)>")
        case .list(let l):
            var out = TracedText.computed("[")
            for (i, item) in l.enumerated() {
                if i > 0 { out.append(.computed(",")) }
                out.append(json(item, htmlSafe: htmlSafe))
            }
            return out + .computed("]")
        case .map(let m):
            var out = TracedText.computed("{")
            for (i, key) in m.sortedKeys.enumerated() {
                if i > 0 { out.append(.computed(",")) }
                out.append(.computed(jsonString(key, htmlSafe: htmlSafe) + ":"))
                out.append(json(m[key]!, htmlSafe: htmlSafe))
            }
            return out + .computed("}")
        }
    }

    static func jsonString(_ s: String, htmlSafe: Bool) -> String { JSONString.quote(s, htmlSafe: htmlSafe) }

    static func prettyJSON(_ value: TemplateValue, indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1), close = String(repeating: "  ", count: indent)
        switch value {
        case .list(let l) where !l.isEmpty:
            return "[\n" + l.map { pad + prettyJSON($0, indent: indent + 1) }.joined(separator: ",\n") + "\n" + close + "]"
        case .map(let m) where !m.isEmpty:
            return "{\n" + m.sortedKeys.map { pad + jsonString($0, htmlSafe: true) + ": " + prettyJSON(m[$0]!, indent: indent + 1) }
                .joined(separator: ",\n") + "\n" + close + "}"
        default:
            return json(value, htmlSafe: true).string
        }
    }

    /// `fromJson`: numbers are float64, as Go decodes them; a document that does not parse is an
    /// `{"Error": …}` map. JSON is YAML, so the YAML reader reads it, with the same limits.
    static func fromJSON(_ text: String, array: Bool) -> TemplateValue {
        TracedYAML.parse(.computed(text, "fromJson"), array: array)
    }

    static func hex<D: Digest>(_ digest: D) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = ""
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        while out.count % 8 != 0 { out.append("=") }
        return out
    }
}

/// Functions whose results only exist at install time (random text, keys and certificates, the
/// clock, DNS): their results are computed placeholders of the right shape, never an image.
enum InstallTimeFunctions {
    static func placeholder(_ what: String) -> TemplateValue { .text("<\(what) made at install time>", what) }

    static let all: [String: TemplateFunction] = {
        var table: [String: TemplateFunction] = [:]
        for name in ["randAlpha", "randAlphaNum", "randNumeric", "randAscii"] {
            table[name] = { _, args, _ in
                let n = args.first.flatMap(NumberFunctions.int) ?? 0
                return .text(String(repeating: "x", count: max(0, min(n, 10_000))), "random text made at install time")
            }
        }
        for name in ["uuidv4", "randBytes", "derivePassword", "encryptAES", "decryptAES", "bcrypt", "htpasswd", "genPrivateKey",
                     "now", "date", "dateInZone", "htmlDate", "htmlDateInZone", "dateModify", "toDate", "mustToDate", "unixEpoch", "ago",
                     "duration", "durationRound", "getHostByName"] {
            table[name] = { _, _, _ in placeholder(name) }
        }
        for name in ["genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
                     "buildCustomCert"] {
            table[name] = { _, _, _ in .dict(["Cert": placeholder("certificate"), "Key": placeholder("private key")]) }
        }
        table["base"] = { _, args, _ in .text((args.first?.string ?? "").split(separator: "/").last.map(String.init) ?? ".") }
        table["dir"] = { _, args, _ in
            let parts = (args.first?.string ?? "").split(separator: "/", omittingEmptySubsequences: false).dropLast()
            return .text(parts.isEmpty ? "." : parts.joined(separator: "/"))
        }
        table["ext"] = { _, args, _ in
            let name = (args.first?.string ?? "").split(separator: "/").last.map(String.init) ?? ""
            return .text(name.lastIndex(of: ".").map { String(name[$0...]) } ?? "")
        }
        table["isAbs"] = { _, args, _ in .bool(args.first?.string.hasPrefix("/") ?? false) }
        table["clean"] = { _, args, _ in .text((args.first?.string ?? "").split(separator: "/").joined(separator: "/")) }
        return table
    }()
}
