/// Slugs name apps and registries inside repository paths, so they must be valid
/// repository path components and never look like a host name.
public enum Slug {
    /// Path segments with a meaning of their own in Portcullis URLs.
    public static let reserved: Set<String> = ["proxy", "v2", "api", "token", "library"]

    public static func validate(_ text: String, what: String) throws(SlugError) {
        let bytes = Array(text.utf8)
        let ok = (1...63).contains(bytes.count)
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }
            && bytes.first != UInt8(ascii: "-") && bytes.last != UInt8(ascii: "-")
        guard ok else {
            throw SlugError(message: "\(what) must be 1-63 lowercase letters, digits and inner hyphens")
        }
        guard !reserved.contains(text) else { throw SlugError(message: "\(what) \(text.debugDescription) is reserved") }
    }

    /// A slug from free text: `127.0.0.1:5000` → `127-0-0-1-5000`, `Quay.io` → `quay-io`.
    public static func derive(from text: String) -> String {
        var out = ""
        for c in text.lowercased() {
            if c.isASCII && (c.isLetter || c.isNumber) { out.append(c) } else if !out.hasSuffix("-") { out.append("-") }
        }
        while out.hasSuffix("-") { out.removeLast() }
        while out.hasPrefix("-") { out.removeFirst() }
        return String(out.prefix(63))
    }
}

public struct SlugError: Error, Equatable {
    public var message: String
}
