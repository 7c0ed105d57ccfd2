/// Where a piece of rendered text came from. Following a chart's templates means knowing,
/// for every character of an image reference, which values-file scalar or template literal
/// produced it — that is what lets the tooling rewrite the right value.
public struct TextOrigin: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A scalar of a values file, at `path` (`images.myapp.apiImageRepository`).
        case value(path: String)
        /// Literal text of a template.
        case template
        /// Anything that cannot be edited as text (Chart.yaml fields, release names, computed text).
        case computed(String)
        /// What the tooling could not evaluate, and why; the location is the action's.
        case unknown(String)
    }

    public var kind: Kind
    public var file: String
    public var line: Int
    /// 1-based column of the text's first character (of the opening quote, for quoted scalars).
    public var column: Int
    /// The whole text at that place, as written (the scalar's value, or the literal).
    public var text: String

    public init(kind: Kind, file: String, line: Int, column: Int, text: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.text = text
    }

    static func computed(_ what: String) -> TextOrigin {
        TextOrigin(kind: .computed(what), file: "", line: 0, column: 0, text: "")
    }

    public var isEditable: Bool {
        switch kind {
        case .value, .template: true
        case .computed, .unknown: false
        }
    }

    /// The file position of character `offset` of `text`.
    public func position(of offset: Int) -> (line: Int, column: Int) {
        var line = self.line, column = self.column
        for c in text.prefix(offset) {
            if c == "\n" || c == "\r\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}

/// A run of rendered characters that came, unchanged, from one origin.
public struct TextSpan: Sendable, Equatable {
    /// Character offsets in the rendered string.
    public var range: Range<Int>
    public var origin: TextOrigin
    /// Where `range.lowerBound` falls in `origin.text`.
    public var offsetInOrigin: Int
}

/// Rendered text with the origin of each character: what a template produces, traced.
public struct TracedText: Sendable, Equatable, CustomStringConvertible {
    public private(set) var characters: [Character]
    public private(set) var spans: [TextSpan]

    public init() {
        characters = []
        spans = []
    }

    public init(_ text: String, origin: TextOrigin?, offsetInOrigin: Int = 0) {
        let chars = Array(text)
        characters = chars
        if let origin, !chars.isEmpty {
            spans = [TextSpan(range: 0..<chars.count, origin: origin, offsetInOrigin: offsetInOrigin)]
        } else {
            spans = []
        }
    }

    /// Text produced by computation: traced to nothing editable.
    public static func computed(_ text: String, _ what: String = "computed") -> TracedText {
        TracedText(text, origin: .computed(what))
    }

    /// Stands for text that could not be evaluated, so it can never pass for a real value.
    static let unknownMarker: Character = "\u{FFFC}"

    /// A placeholder for what could not be evaluated at `location`, and why.
    static func unknown(_ reason: String, at location: TemplateLocation) -> TracedText {
        TracedText(String(unknownMarker), origin: TextOrigin(kind: .unknown(reason), file: location.file, line: location.line,
                                                             column: location.column, text: String(unknownMarker)))
    }

    /// Why some of this text could not be evaluated, with where; nil when all of it was.
    public var unknownReason: (reason: String, file: String, line: Int)? {
        for span in spans { if case .unknown(let why) = span.origin.kind { return (why, span.origin.file, span.origin.line) } }
        return nil
    }

    public var string: String { String(characters) }
    public var description: String { string }
    public var count: Int { characters.count }
    public var isEmpty: Bool { characters.isEmpty }

    public mutating func append(_ other: TracedText) {
        let shift = characters.count
        characters += other.characters
        spans += other.spans.map { TextSpan(range: ($0.range.lowerBound + shift)..<($0.range.upperBound + shift), origin: $0.origin,
                                            offsetInOrigin: $0.offsetInOrigin) }
    }

    public static func + (lhs: TracedText, rhs: TracedText) -> TracedText {
        var out = lhs
        out.append(rhs)
        return out
    }

    /// Characters `range`, keeping the origins of what is kept.
    public func slice(_ range: Range<Int>) -> TracedText {
        let r = max(0, range.lowerBound)..<min(characters.count, max(range.lowerBound, range.upperBound))
        var out = TracedText()
        out.characters = Array(characters[r])
        var i = firstSpan(endingAfter: r.lowerBound)
        while i < spans.count, spans[i].range.lowerBound < r.upperBound {
            let span = spans[i]
            let lo = max(span.range.lowerBound, r.lowerBound), hi = min(span.range.upperBound, r.upperBound)
            out.spans.append(TextSpan(range: (lo - r.lowerBound)..<(hi - r.lowerBound), origin: span.origin,
                                      offsetInOrigin: span.offsetInOrigin + (lo - span.range.lowerBound)))
            i += 1
        }
        return out
    }

    /// The text without leading and trailing characters in `set`.
    public func trimming(_ set: Set<Character>) -> TracedText {
        var lo = 0, hi = characters.count
        while lo < hi, set.contains(characters[lo]) { lo += 1 }
        while hi > lo, set.contains(characters[hi - 1]) { hi -= 1 }
        return slice(lo..<hi)
    }

    /// The span holding character `offset`.
    public func span(at offset: Int) -> TextSpan? {
        let i = firstSpan(endingAfter: offset)
        return i < spans.count && spans[i].range.contains(offset) ? spans[i] : nil
    }

    /// The spans that cover `range`, in order; nil if some character in it has no origin.
    public func spans(covering range: Range<Int>) -> [TextSpan]? {
        var out: [TextSpan] = []
        var at = range.lowerBound
        var i = firstSpan(endingAfter: at)
        while at < range.upperBound {
            guard i < spans.count, spans[i].range.contains(at) else { return nil }
            out.append(spans[i])
            at = spans[i].range.upperBound
            i += 1
        }
        return out
    }

    /// Spans are sorted, disjoint and non-empty, so a binary search finds the first one that
    /// ends after `offset` (linear scans made a long render's image scan quadratic).
    private func firstSpan(endingAfter offset: Int) -> Int {
        var lo = 0, hi = spans.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if spans[mid].range.upperBound <= offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
