import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif

/// How large the proxy cache may grow: a size (`50GiB`, `500MB`, `1048576`) or a share of the
/// disk holding the blob directory (`80%`).
public enum CacheLimit: Sendable, Equatable, CustomStringConvertible {
    case bytes(Int64)
    case percentOfDisk(Double)

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    private static let units: [(suffix: String, factor: Double)] = [
        ("KiB", 0x1p10), ("MiB", 0x1p20), ("GiB", 0x1p30), ("TiB", 0x1p40),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("K", 0x1p10), ("M", 0x1p20), ("G", 0x1p30), ("T", 0x1p40), ("B", 1),
    ]

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%") {
            guard let percent = Double(trimmed.dropLast()), percent > 0, percent <= 100 else {
                throw Invalid(description: "cache size \(text.debugDescription): a percentage must be above 0 and at most 100")
            }
            self = .percentOfDisk(percent)
            return
        }
        let unit = Self.units.first { trimmed.uppercased().hasSuffix($0.suffix.uppercased()) } ?? ("", 1)
        let number = trimmed.dropLast(unit.suffix.count).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value > 0, value * unit.factor < 9e18 else {
            throw Invalid(description: "cache size \(text.debugDescription) is not a size such as 50GiB, 500MB or 80%")
        }
        self = .bytes(Int64(value * unit.factor))
    }

    /// The limit in bytes; a percentage needs the directory whose file system it is a share of.
    public func bytes(directory: String?) throws -> Int64 {
        switch self {
        case .bytes(let n):
            return n
        case .percentOfDisk(let percent):
            guard let directory else {
                throw Invalid(description: "a cache size given as a percentage needs a local blob directory; give a size such as 50GiB")
            }
            var fs = statvfs()
            guard statvfs(directory, &fs) == 0 else {
                throw Invalid(description: "cannot read the size of the file system holding \(directory)")
            }
            return Int64(Double(UInt64(fs.f_blocks) * UInt64(fs.f_frsize)) * percent / 100)
        }
    }

    public var description: String {
        switch self {
        case .bytes(let n): "\(n) bytes"
        case .percentOfDisk(let p): "\(p)% of the disk"
        }
    }
}
