import CompressNIO
import NIOCore

public enum Gzip {
    /// Decompresses, refusing output past `limit` bytes (a gzip bomb stops there).
    public static func decompress(_ bytes: [UInt8], limit: Int) throws(ChartError) -> [UInt8] {
        guard bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b else { throw ChartError("not a gzip archive") }
        var buffer = ByteBuffer(bytes: bytes)
        do {
            let out = try buffer.decompress(with: .gzip(), maxSize: limit)
            return Array(out.readableBytesView)
        } catch {
            throw ChartError("archive is corrupt or expands past \(limit) bytes")
        }
    }

    /// Compresses deterministically: zlib's gzip header carries no name and a zero mtime.
    public static func compress(_ bytes: [UInt8]) throws(ChartError) -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            return Array(try buffer.compress(with: .gzip()).readableBytesView)
        } catch {
            throw ChartError("gzip compression failed")
        }
    }
}

public struct ChartError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
