/// Percent-encoding as Signature Version 4 defines it: every byte except the RFC 3986
/// unreserved characters (`A–Z a–z 0–9 - . _ ~`) becomes `%XX` with upper-case hex.
public enum SigV4Encoding {
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xf)])
            }
        }
        return out
    }

    /// A path's segments encoded, slashes kept: what goes on the wire and into the canonical request.
    public static func path(_ raw: String) -> String {
        encode(raw.isEmpty ? "/" : raw, keepSlash: true)
    }

    /// Removes `.` and `..` segments and repeated slashes (all services but S3 sign the normalized path).
    public static func normalized(_ raw: String) -> String {
        var out: [Substring] = []
        for segment in raw.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = out.popLast()
            default: out.append(segment)
            }
        }
        let joined = "/" + out.joined(separator: "/")
        return raw.hasSuffix("/") && joined != "/" ? joined + "/" : joined
    }
}
