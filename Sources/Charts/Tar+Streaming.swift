/// Tar written and read one entry at a time, for archives too large to hold in memory (air-gap
/// bundles): a header, the content streamed by the caller, then the padding.
extension Tar {
    /// A regular file's header. A path that does not fit ustar's name and prefix (a sha512
    /// blob's, say) goes first in a PAX extended header, as GNU tar and Go's archive/tar write it.
    public static func fileHeader(path: String, size: Int64) throws(TarError) -> [UInt8] {
        guard size >= 0, size < 0o77777777777 else { throw TarError("entry too large for a ustar header: \(path)") }
        guard path.utf8.count <= 4096 else { throw TarError("path too long: \(path.prefix(64))…") }
        var name = path, prefix = ""
        var out: [UInt8] = []
        if path.utf8.count > 100 {
            if let split = ustarSplit(path) {
                (prefix, name) = split
            } else {
                let record = paxRecord("path", path)
                out += header(name: "PaxHeaders/" + String(path.suffix(80)).replacingSlashes, prefix: "", size: record.count,
                              mode: 0o644, type: UInt8(ascii: "x"))
                out += padded(record)
                name = String(path.suffix(99)).replacingSlashes
            }
        }
        return out + header(name: name, prefix: prefix, size: Int(size), mode: 0o644, type: UInt8(ascii: "0"))
    }

    /// Zero bytes that bring an entry of `size` bytes to a whole block.
    public static func padding(afterContentOf size: Int64) -> [UInt8] {
        [UInt8](repeating: 0, count: Int((Int64(block) - size % Int64(block)) % Int64(block)))
    }

    /// The two zero blocks that end an archive.
    public static var endOfArchive: [UInt8] { [UInt8](repeating: 0, count: block * 2) }

    public static let blockSize = block

    /// One entry's header as read from a 512-byte block: nil for the zero block that ends an archive.
    public struct EntryHeader: Equatable, Sendable {
        public var path: String
        public var size: Int64
        public var isFile: Bool
        /// A PAX extended header: its content (see `paxPath`) names the next entry.
        public var isExtendedHeader: Bool
        /// Bytes of content plus padding that follow the header.
        public var paddedSize: Int64 { size + (Int64(block) - size % Int64(block)) % Int64(block) }
    }

    public static func entryHeader(_ h: [UInt8]) throws(TarError) -> EntryHeader? {
        guard h.count == block else { throw TarError("truncated tar header") }
        if h.allSatisfy({ $0 == 0 }) { return nil }
        guard verifyChecksum(h) else { throw TarError("tar header checksum mismatch") }
        guard let size = parseOctal(h[124..<136]), size >= 0 else { throw TarError("bad size in tar header") }
        let name = cString(h[0..<100]), prefix = cString(h[345..<500])
        let type = h[156]
        return EntryHeader(path: prefix.isEmpty ? name : prefix + "/" + name, size: Int64(size),
                           isFile: type == UInt8(ascii: "0") || type == 0, isExtendedHeader: type == UInt8(ascii: "x"))
    }

    /// The path a PAX extended header's content gives the entry after it, if any.
    public static func paxPath(_ content: [UInt8]) throws(TarError) -> String? {
        try parsePAX(content)["path"]
    }
}
