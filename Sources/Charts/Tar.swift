import OCI
/// One file or directory in a tar archive.
public struct TarEntry: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case file, directory }

    public var path: String
    public var kind: Kind
    public var mode: Int
    public var contents: [UInt8]

    public init(path: String, kind: Kind = .file, mode: Int = 0o644, contents: [UInt8] = []) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.contents = contents
    }
}

public struct TarError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// A ustar/PAX tar reader and a deterministic writer, enough for Helm chart archives.
///
/// Reading understands ustar prefixes, PAX `path`/`size` records and GNU long names, and
/// skips links and devices (charts have none). Writing pins mtime, owner and order, so the
/// same entries always give the same bytes and therefore the same digest.
public enum Tar {
    static let block = 512

    public static func read(_ bytes: [UInt8], maxEntries: Int = 10_000) throws(TarError) -> [TarEntry] {
        var entries: [TarEntry] = []
        var offset = 0
        var paxPath: String?
        var paxSize: Int?
        var longName: String?
        while offset + block <= bytes.count {
            let header = Array(bytes[offset..<offset + block])
            if header.allSatisfy({ $0 == 0 }) { break }
            guard verifyChecksum(header) else { throw TarError("tar header checksum mismatch at offset \(offset)") }
            let type = header[156]
            guard let declaredSize = parseOctal(header[124..<136]) else { throw TarError("invalid size field at offset \(offset)") }
            let size = paxSize ?? declaredSize
            let dataStart = offset + block
            guard size >= 0, size <= bytes.count - dataStart else { throw TarError("truncated tar entry at offset \(offset)") }
            let data = Array(bytes[dataStart..<dataStart + size])
            offset = dataStart + (size + block - 1) / block * block

            switch type {
            case UInt8(ascii: "x"):
                let records = try parsePAX(data)
                paxPath = records["path"]
                paxSize = records["size"].flatMap { Int($0) }
                continue
            case UInt8(ascii: "g"):
                continue
            case UInt8(ascii: "L"):
                longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                continue
            default:
                break
            }
            var name = cString(header[0..<100])
            let prefix = cString(header[345..<500])
            if String(decoding: header[257..<262], as: UTF8.self) == "ustar", !prefix.isEmpty { name = prefix + "/" + name }
            let path = paxPath ?? longName ?? name
            // A name a chart could really have: UTF-8 text without control characters.
            guard !path.isEmpty, !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{FFFD}" }) else {
                throw TarError("entry name at offset \(offset) is not valid text")
            }
            paxPath = nil
            paxSize = nil
            longName = nil
            let mode = parseOctal(header[100..<108]) ?? 0o644
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
                entries.append(TarEntry(path: path, kind: .file, mode: mode, contents: data))
            case UInt8(ascii: "5"):
                entries.append(TarEntry(path: path, kind: .directory, mode: mode))
            default:
                continue
            }
            guard entries.count <= maxEntries else { throw TarError("archive has more than \(maxEntries) entries") }
        }
        return entries
    }

    public static func write(_ entries: [TarEntry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            let nameBytes = Array(entry.path.utf8)
            var name = entry.path
            var prefix = ""
            if nameBytes.count > 100 {
                if let split = ustarSplit(entry.path) {
                    (prefix, name) = split
                } else {
                    // PAX extended header carries the long path.
                    let record = paxRecord("path", entry.path)
                    out += header(name: "PaxHeaders/" + String(entry.path.suffix(80)).replacingSlashes, prefix: "", size: record.count,
                                  mode: 0o644, type: UInt8(ascii: "x"))
                    out += padded(record)
                    name = String(entry.path.suffix(99)).replacingSlashes
                }
            }
            let isDir = entry.kind == .directory
            out += header(name: name, prefix: prefix, size: isDir ? 0 : entry.contents.count, mode: entry.mode,
                          type: isDir ? UInt8(ascii: "5") : UInt8(ascii: "0"))
            if !isDir { out += padded(entry.contents) }
        }
        out += [UInt8](repeating: 0, count: block * 2)
        return out
    }

    // MARK: Header fields

    static func header(name: String, prefix: String, size: Int, mode: Int, type: UInt8) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: block)
        put(&h, 0, 100, Array(name.utf8))
        put(&h, 100, 8, octal(mode & 0o7777, width: 8))
        put(&h, 108, 8, octal(0, width: 8))
        put(&h, 116, 8, octal(0, width: 8))
        put(&h, 124, 12, octal(size, width: 12))
        put(&h, 136, 12, octal(0, width: 12))
        h[156] = type
        put(&h, 257, 6, Array("ustar\0".utf8))
        put(&h, 263, 2, Array("00".utf8))
        put(&h, 345, 155, Array(prefix.utf8))
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(&h, 148, 8, Array(String(sum, radix: 8).leftPadded(6).utf8) + [0, UInt8(ascii: " ")])
        return h
    }

    static func put(_ h: inout [UInt8], _ at: Int, _ width: Int, _ bytes: [UInt8]) {
        for (i, b) in bytes.prefix(width).enumerated() { h[at + i] = b }
    }

    static func octal(_ value: Int, width: Int) -> [UInt8] {
        Array(String(value, radix: 8).leftPadded(width - 1).utf8) + [0]
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        let pad = (block - bytes.count % block) % block
        return bytes + [UInt8](repeating: 0, count: pad)
    }

    static func ustarSplit(_ path: String) -> (String, String)? {
        let bytes = Array(path.utf8)
        guard bytes.count <= 255 else { return nil }
        for i in stride(from: min(bytes.count - 1, 155), to: 0, by: -1) where bytes[i] == UInt8(ascii: "/") {
            let prefix = bytes[..<i], name = bytes[(i + 1)...]
            if prefix.count <= 155, name.count <= 100, !name.isEmpty {
                return (String(decoding: prefix, as: UTF8.self), String(decoding: name, as: UTF8.self))
            }
        }
        return nil
    }

    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).count + body.utf8.count != length { length = String(length).count + body.utf8.count }
        return Array((String(length) + body).utf8)
    }

    static func parsePAX(_ data: [UInt8]) throws(TarError) -> [String: String] {
        var records: [String: String] = [:]
        var i = 0
        while i < data.count {
            // "LENGTH KEY=VALUE\n", LENGTH counting the whole record: it must reach past its own space.
            guard let space = data[i...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[i..<space], as: UTF8.self)),
                  length > space - i + 1, length <= data.count - i, data[i + length - 1] == UInt8(ascii: "\n") else {
                throw TarError("malformed PAX header")
            }
            let record = data[(space + 1)..<(i + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                records[String(decoding: record[..<eq], as: UTF8.self)] = String(decoding: record[(eq + 1)...], as: UTF8.self)
            }
            i += length
        }
        return records
    }

    static func parseOctal(_ field: ArraySlice<UInt8>) -> Int? {
        let text = String(decoding: field.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: " ")
        if text.isEmpty { return 0 }
        return Int(text, radix: 8)
    }

    static func cString(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func verifyChecksum(_ h: [UInt8]) -> Bool {
        guard let stored = parseOctal(h[148..<156]) else { return false }
        var sum = 0
        for (i, b) in h.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(b) }
        return sum == stored
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    var replacingSlashes: String { String(map { $0 == "/" ? "_" : $0 }) }
}
