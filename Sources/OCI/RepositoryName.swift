/// A repository name as the distribution spec defines it: lowercase path components
/// of `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`, separated by `/`.
///
/// Validation here is what keeps `..`, encoded slashes and odd bytes away from storage keys.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible {
    public let components: [Substring]
    public var description: String { components.joined(separator: "/") }

    public static let maxLength = 255

    public init(parsing text: some StringProtocol) throws(RegistryError) {
        let text = String(text)
        guard !text.isEmpty, text.utf8.count <= Self.maxLength else {
            throw RegistryError(.nameInvalid, "repository name must be 1 to \(Self.maxLength) characters")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() where !Self.isValidComponent(part) {
            // `proxy/<app>/<host:port>/…` may name an upstream by host and port. Real clients
            // cannot send this (they reject ':' in a path), but API users and curl can.
            if index == 2, parts[0] == "proxy", Self.isHostWithPort(part) { continue }
            throw RegistryError(.nameInvalid, "invalid repository name component \(String(part.prefix(64)).debugDescription)")
        }
        components = parts
    }

    public init(components: [String]) throws(RegistryError) {
        try self.init(parsing: components.joined(separator: "/"))
    }

    static func isValidComponent(_ part: Substring) -> Bool {
        let bytes = Array(part.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if isAlnum(c) { i += 1; continue }
            // A separator: ".", "_", "__" or one or more "-", always between alphanumerics.
            if c == UInt8(ascii: ".") {
                i += 1
            } else if c == UInt8(ascii: "_") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "_") { i += 1 }
            } else if c == UInt8(ascii: "-") {
                while i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            } else {
                return false
            }
            guard i < bytes.count, isAlnum(bytes[i]) else { return false }
        }
        return true
    }

    static func isHostWithPort(_ part: Substring) -> Bool {
        let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
        guard pieces.count == 2, let port = UInt16(pieces[1]), port > 0 else { return false }
        return pieces[0].split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isValidComponent)
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a)
    }
}

/// What a manifest is asked for by: a tag or a digest.
public enum ManifestReference: Hashable, Sendable, CustomStringConvertible {
    case tag(String)
    case digest(Digest)

    public init(parsing text: some StringProtocol) throws(RegistryError) {
        if text.contains(":") {
            self = .digest(try Digest(parsing: text))
        } else {
            guard Self.isValidTag(text) else {
                throw RegistryError(.tagInvalid, "invalid tag \(String(text.prefix(80)).debugDescription)")
            }
            self = .tag(String(text))
        }
    }

    public var description: String {
        switch self {
        case .tag(let t): t
        case .digest(let d): d.description
        }
    }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
    public static func isValidTag(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == UInt8(ascii: "_")
        }
        return word(first) && bytes.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}
