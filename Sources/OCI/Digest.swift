import NIOCore
import Crypto

/// A content digest such as `sha256:9f86d0…` or `sha512:…`.
///
/// Only algorithms Portcullis can verify are accepted: an unverifiable digest would let
/// unchecked bytes into the cache.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    public enum Algorithm: String, Sendable, CaseIterable, Codable {
        case sha256, sha512

        /// Length of the lowercase hex encoding.
        public var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    public let algorithm: Algorithm
    /// The lowercase hex characters after `<algorithm>:`.
    public let hex: String

    public init(parsing text: some StringProtocol) throws(RegistryError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw RegistryError(.digestInvalid, "a digest is <algorithm>:<hex>, e.g. sha256:…")
        }
        guard let algorithm = Algorithm(rawValue: String(text[..<colon])) else {
            throw RegistryError(.digestInvalid, "unsupported digest algorithm in \(String(text.prefix(80)).debugDescription); use sha256 or sha512")
        }
        let hex = text[text.index(after: colon)...]
        guard hex.utf8.count == algorithm.hexLength, hex.utf8.allSatisfy(Digest.isLowerHex) else {
            throw RegistryError(.digestInvalid, "a \(algorithm.rawValue) digest is \(algorithm.hexLength) lowercase hex characters")
        }
        self.algorithm = algorithm
        self.hex = String(hex)
    }

    init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    public var description: String { algorithm.rawValue + ":" + hex }

    /// The digest of `bytes` with `algorithm` (sha256 unless told otherwise).
    public static func of(_ bytes: some Sequence<UInt8>, algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm: algorithm)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    /// Whether `bytes` hash to this digest under its own algorithm.
    public func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var hasher = DigestHasher(algorithm: algorithm)
        hasher.update(bytes)
        return hasher.finalize() == self
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

/// Incremental hashing, fed as bytes stream past so a blob is never held whole.
public struct DigestHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    public private(set) var count: Int64 = 0

    public init(algorithm: Digest.Algorithm = .sha256) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public var algorithm: Digest.Algorithm {
        switch state {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
        count += Int64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let raw: [UInt8] = switch state {
        case .sha256(let h): Array(h.finalize())
        case .sha512(let h): Array(h.finalize())
        }
        return Digest(algorithm: algorithm, hex: Self.hex(raw))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Digest {
    /// The digest of a buffer's readable bytes.
    public static func of(_ buffer: ByteBuffer, algorithm: Algorithm = .sha256) -> Digest {
        buffer.withUnsafeReadableBytes { bytes in
            var hasher = DigestHasher(algorithm: algorithm)
            hasher.update(bytes)
            return hasher.finalize()
        }
    }
}
