import Crypto

/// A content digest such as `sha256:9f86d0…`.
///
/// Only SHA-256 is accepted: it is what every registry and client in use produces,
/// and accepting an algorithm we cannot verify would let unverified bytes into the cache.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 64 lowercase hex characters after `sha256:`.
    public let hex: String

    public init(parsing text: some StringProtocol) throws(RegistryError) {
        guard text.hasPrefix("sha256:") else {
            throw RegistryError(.digestInvalid, "unsupported digest algorithm in \(String(text.prefix(80)).debugDescription)")
        }
        let hex = text.dropFirst("sha256:".count)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy(Digest.isLowerHex) else {
            throw RegistryError(.digestInvalid, "a sha256 digest is 64 lowercase hex characters")
        }
        self.hex = String(hex)
    }

    init(hex: String) { self.hex = hex }

    public var description: String { "sha256:" + hex }

    public static func of(_ bytes: some Sequence<UInt8>) -> Digest {
        var hasher = DigestHasher()
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Digest(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Incremental SHA-256, fed as bytes stream past so a blob is never held whole.
public struct DigestHasher: Sendable {
    private var sha = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let hex = sha.finalize().map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
        return Digest(hex: hex)
    }
}
