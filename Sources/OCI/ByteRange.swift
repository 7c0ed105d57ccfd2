/// A single byte range from a `Range: bytes=…` header, resolved against a known length.
public struct ByteRange: Equatable, Sendable {
    public var start: Int64
    /// Inclusive.
    public var end: Int64
    public var count: Int64 { end - start + 1 }

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public enum ParseResult: Equatable, Sendable {
        /// No usable range: serve the whole entity (RFC 9110 lets a server ignore Range it does not support).
        case whole
        case partial(ByteRange)
        /// Syntactically fine but outside the entity: 416.
        case unsatisfiable
    }

    /// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`. Multiple ranges are served whole,
    /// which the spec permits and no registry client asks for.
    public static func parse(_ header: String?, length: Int64) -> ParseResult {
        guard let header else { return .whole }
        let trimmed = header.trimmingSpaces
        guard trimmed.hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingSpaces
        let last = spec[spec.index(after: dash)...].trimmingSpaces
        if first.isEmpty {
            // A suffix longer than any Int64 is still longer than the entity: all of it.
            let suffix = Int64(last) ?? (!last.isEmpty && last.allSatisfy({ $0.isASCII && $0.isNumber }) ? Int64.max : nil)
            guard let suffix, suffix > 0 else { return last.isEmpty ? .whole : .unsatisfiable }
            guard length > 0 else { return .unsatisfiable }
            return .partial(ByteRange(start: max(0, length - suffix), end: length - 1))
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        let end: Int64
        if last.isEmpty {
            end = length - 1
        } else {
            guard let e = Int64(last) else { return .whole }
            // A last position before the first is an invalid range: RFC 9110 answers 416.
            guard e >= start else { return .unsatisfiable }
            end = min(e, length - 1)
        }
        guard start < length else { return .unsatisfiable }
        return .partial(ByteRange(start: start, end: end))
    }

    public func contentRange(length: Int64) -> String { "bytes \(start)-\(end)/\(length)" }
}

extension StringProtocol {
    /// The string without leading and trailing characters from `set`.
    public func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }

    /// Without leading and trailing spaces and tabs (header whitespace), without Foundation's
    /// NSString bridge, which is slow enough to matter on a request's path.
    public var trimmingSpaces: String { trimmingCharacters(in: " \t") }
}
