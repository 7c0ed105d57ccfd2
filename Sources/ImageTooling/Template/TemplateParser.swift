/// Go templates as Helm charts write them, parsed: enough of text/template's grammar (actions,
/// pipelines, variables, `if`/`with`/`range`/`define`/`template`/`block`, trim markers and
/// comments) to follow an image reference from a template to the values that form it.
enum TemplateParser {
    // MARK: Lexing into text and actions

    private enum Segment {
        case text(String, start: Int)
        case action(String, start: Int, trimLeft: Bool, trimRight: Bool)
    }

    private static func segments(_ source: [Character], file: String, lines: LineIndex) throws(TemplateSyntaxError) -> [Segment] {
        var out: [Segment] = []
        var i = 0
        var textStart = 0
        func isSpace(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
        while i < source.count {
            guard source[i] == "{", i + 1 < source.count, source[i + 1] == "{" else { i += 1; continue }
            if textStart < i { out.append(.text(String(source[textStart..<i]), start: textStart)) }
            let actionStart = i
            var j = i + 2
            var trimLeft = false
            if j + 1 < source.count, source[j] == "-", isSpace(source[j + 1]) { trimLeft = true; j += 1 }
            let contentStart = j
            // Find the closing delimiter outside string literals; a comment runs to `*/` first.
            var quote: Character?
            var end: Int?
            var k = j
            while k < source.count, isSpace(source[k]) { k += 1 }
            if k + 1 < source.count, source[k] == "/", source[k + 1] == "*" {
                var c = k + 2
                while c + 1 < source.count, !(source[c] == "*" && source[c + 1] == "/") { c += 1 }
                guard c + 1 < source.count else {
                    throw TemplateSyntaxError(location: lines.location(file, actionStart), message: "unclosed comment")
                }
                j = c + 2
            }
            while j < source.count {
                let c = source[j]
                if let q = quote {
                    if c == "\\" && q != "`" { j += 2; continue }
                    if c == q { quote = nil }
                } else if c == "\"" || c == "`" || c == "'" {
                    quote = c
                } else if c == "}", j + 1 < source.count, source[j + 1] == "}" {
                    end = j
                    break
                }
                j += 1
            }
            guard let close = end else {
                throw TemplateSyntaxError(location: lines.location(file, actionStart), message: "unclosed action")
            }
            var contentEnd = close
            var trimRight = false
            if contentEnd - 1 >= contentStart, source[contentEnd - 1] == "-", contentEnd - 2 >= contentStart, isSpace(source[contentEnd - 2]) {
                trimRight = true
                contentEnd -= 1
            }
            out.append(.action(String(source[contentStart..<contentEnd]), start: actionStart, trimLeft: trimLeft, trimRight: trimRight))
            i = close + 2
            textStart = i
        }
        if textStart < source.count { out.append(.text(String(source[textStart...]), start: textStart)) }
        return out
    }

    // MARK: Tokens inside an action

    enum Token: Equatable {
        case word(String)
        case field([String])
        /// `.a.b` right after `)`: fields of the parenthesized value.
        case chained([String])
        case variable(String, [String])
        case string(String)
        case number(String)
        case pipe, open, close, declare, assign, comma
    }

    static func tokenize(_ text: String, at location: TemplateLocation) throws(TemplateSyntaxError) -> [Token] {
        let c = Array(text)
        var i = 0
        var out: [Token] = []
        func fail(_ m: String) -> TemplateSyntaxError { TemplateSyntaxError(location: location, message: m) }
        func isIdent(_ ch: Character) -> Bool { ch.isLetter || ch.isNumber || ch == "_" }
        func path(from start: Int) -> ([String], Int) {
            var parts: [String] = []
            var k = start
            while k < c.count, c[k] == "." {
                var e = k + 1
                while e < c.count, isIdent(c[e]) { e += 1 }
                if e == k + 1 { break }
                parts.append(String(c[(k + 1)..<e]))
                k = e
            }
            return (parts, k)
        }
        while i < c.count {
            let ch = c[i]
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" { i += 1; continue }
            switch ch {
            case "|": out.append(.pipe); i += 1
            case "(": out.append(.open); i += 1
            case ")": out.append(.close); i += 1
            case ",": out.append(.comma); i += 1
            case ":":
                guard i + 1 < c.count, c[i + 1] == "=" else { throw fail("unexpected ':'") }
                out.append(.declare); i += 2
            case "=": out.append(.assign); i += 1
            case "\"":
                var s = ""
                var k = i + 1
                var closed = false
                while k < c.count {
                    if c[k] == "\\", k + 1 < c.count {
                        switch c[k + 1] {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        case "\\": s.append("\\")
                        case "\"": s.append("\"")
                        default: s.append(c[k + 1])
                        }
                        k += 2
                        continue
                    }
                    if c[k] == "\"" { closed = true; break }
                    s.append(c[k])
                    k += 1
                }
                guard closed else { throw fail("unterminated string") }
                out.append(.string(s)); i = k + 1
            case "`":
                guard let end = c[(i + 1)...].firstIndex(of: "`") else { throw fail("unterminated raw string") }
                out.append(.string(String(c[(i + 1)..<end]))); i = end + 1
            case "'":
                guard i + 2 < c.count, c[i + 2] == "'" else { throw fail("unsupported character literal") }
                out.append(.number(String(c[i + 1].unicodeScalars.first!.value))); i += 3
            case ".":
                let (parts, next) = path(from: i)
                if i > 0, c[i - 1] == ")", !parts.isEmpty {
                    out.append(.chained(parts)); i = next
                } else if parts.isEmpty {
                    out.append(.field([])); i += 1
                } else {
                    out.append(.field(parts)); i = next
                }
            case "$":
                var e = i + 1
                while e < c.count, isIdent(c[e]) { e += 1 }
                let name = String(c[(i + 1)..<e])
                let (parts, next) = path(from: e)
                out.append(.variable(name, parts)); i = next
            default:
                if ch.isNumber || ((ch == "-" || ch == "+") && i + 1 < c.count && c[i + 1].isNumber) {
                    var e = i + 1
                    while e < c.count, c[e].isNumber || c[e] == "." || c[e] == "x" || c[e] == "o" || c[e] == "e" || c[e] == "E" || c[e] == "_" || c[e].isHexDigit
                        || ((c[e] == "-" || c[e] == "+") && (c[e - 1] == "e" || c[e - 1] == "E") && !String(c[i..<e]).lowercased().contains("x")) { e += 1 }
                    out.append(.number(String(c[i..<e]))); i = e
                } else if isIdent(ch) {
                    var e = i
                    while e < c.count, isIdent(c[e]) { e += 1 }
                    out.append(.word(String(c[i..<e]))); i = e
                } else {
                    throw fail("unexpected character \(String(ch).debugDescription)")
                }
            }
        }
        return out
    }

    // MARK: Pipelines

    struct TokenStream {
        var tokens: [Token]
        var index = 0
        var peek: Token? { index < tokens.count ? tokens[index] : nil }
        mutating func next() -> Token? {
            defer { index += 1 }
            return peek
        }
        var atEnd: Bool { index >= tokens.count }
    }

    static func pipeline(_ s: inout TokenStream, at location: TemplateLocation, allowDeclaration: Bool = true) throws(TemplateSyntaxError) -> TemplatePipeline {
        var variables: [String] = []
        var assigns = false
        if allowDeclaration {
            // `$x :=`, `$x =`, `$i, $v :=`
            let save = s.index
            var names: [String] = []
            while case .variable(let name, let path)? = s.peek, path.isEmpty {
                names.append(name)
                _ = s.next()
                if s.peek == .comma { _ = s.next(); continue }
                break
            }
            if !names.isEmpty, s.peek == .declare || s.peek == .assign {
                assigns = s.next() == .assign
                variables = names
            } else {
                s.index = save
            }
        }
        var commands: [[TemplateOperand]] = []
        var current: [TemplateOperand] = []
        while let token = s.peek, token != .close {
            _ = s.next()
            switch token {
            case .pipe:
                guard !current.isEmpty else { throw TemplateSyntaxError(location: location, message: "empty command in pipeline") }
                commands.append(current)
                current = []
            case .open:
                let inner = try pipeline(&s, at: location)
                guard s.next() == .close else { throw TemplateSyntaxError(location: location, message: "unclosed parenthesis") }
                if case .chained(let parts)? = s.peek {
                    _ = s.next()
                    current.append(.access(.pipeline(inner), parts))
                } else {
                    current.append(.pipeline(inner))
                }
            case .field(let path): current.append(.field(path))
            case .variable(let name, let path): current.append(.variable(name, path))
            case .string(let text): current.append(.string(text))
            case .number(let text): current.append(.number(text))
            case .word("true"): current.append(.bool(true))
            case .word("false"): current.append(.bool(false))
            case .word("nil"): current.append(.null)
            case .word(let name): current.append(.function(name))
            case .declare, .assign, .comma, .close, .chained:
                throw TemplateSyntaxError(location: location, message: "unexpected token in pipeline")
            }
        }
        guard !current.isEmpty else { throw TemplateSyntaxError(location: location, message: "missing value") }
        commands.append(current)
        return TemplatePipeline(variables: variables, assigns: assigns, commands: commands)
    }

    // MARK: Structure

    private final class Frame {
        enum Kind { case root, ifBlock, withBlock, rangeBlock, define(String) }
        let kind: Kind
        let pipeline: TemplatePipeline?
        let location: TemplateLocation
        /// Closed by the `end` of the frame below it (`else if` / `else with` chains).
        let chained: Bool
        var body: [TemplateNode] = []
        var elseBody: [TemplateNode] = []
        var inElse = false

        init(_ kind: Kind, _ pipeline: TemplatePipeline?, _ location: TemplateLocation, chained: Bool = false) {
            self.kind = kind
            self.pipeline = pipeline
            self.location = location
            self.chained = chained
        }

        func add(_ node: TemplateNode) {
            if inElse { elseBody.append(node) } else { body.append(node) }
        }

        var node: TemplateNode? {
            switch kind {
            case .ifBlock: .ifBlock(pipeline!, then: body, else: elseBody, location)
            case .withBlock: .withBlock(pipeline!, then: body, else: elseBody, location)
            case .rangeBlock: .rangeBlock(pipeline!, body: body, else: elseBody, location)
            case .root, .define: nil
            }
        }
    }

    /// Parses `text`. For `tpl`, `traced` is the text with its origins (literal text then keeps
    /// them) and `fixed` the place of the `tpl` call, which every action inside reports.
    static func parse(_ text: String, file: String, traced: TracedText? = nil, at fixed: TemplateLocation? = nil) throws(TemplateSyntaxError) -> ParsedTemplate {
        let source = Array(text)
        var lines = LineIndex(source)
        lines.fixed = fixed
        var segs = try segments(source, file: file, lines: lines)
        // Trim markers eat the whitespace beside them.
        for k in segs.indices {
            guard case .action(_, _, let trimLeft, let trimRight) = segs[k] else { continue }
            if trimLeft, k > 0, case .text(let t, let start) = segs[k - 1] {
                segs[k - 1] = .text(String(t.reversed().drop(while: { $0.isWhitespace }).reversed()), start: start)
            }
            if trimRight, k + 1 < segs.count, case .text(let t, let start) = segs[k + 1] {
                let kept = t.drop(while: { $0.isWhitespace })
                segs[k + 1] = .text(String(kept), start: start + (t.count - kept.count))
            }
        }
        var defines: [String: [TemplateNode]] = [:]
        var stack = [Frame(.root, nil, TemplateLocation(file: file, line: 1, column: 1))]
        for seg in segs {
            switch seg {
            case .text(let t, let start):
                guard !t.isEmpty else { continue }
                if let traced {
                    stack.last!.add(.text(traced.slice(start..<(start + t.count))))
                    continue
                }
                let at = lines.location(file, start)
                stack.last!.add(.text(TracedText(t, origin: TextOrigin(kind: .template, file: file, line: at.line, column: at.column, text: t))))
            case .action(let content, let start, _, _):
                let location = lines.location(file, start)
                let trimmed = content.trimmingCharacters(in: " \t\r\n")
                if trimmed.hasPrefix("/*") { continue }
                var s = TokenStream(tokens: try tokenize(content, at: location))
                func rest() throws(TemplateSyntaxError) -> TemplatePipeline { try pipeline(&s, at: location) }
                func closeFrame() throws(TemplateSyntaxError) {
                    guard stack.count > 1 else { throw TemplateSyntaxError(location: location, message: "unexpected end") }
                    let frame = stack.removeLast()
                    if case .define(let name) = frame.kind {
                        defines[name] = frame.body
                        return
                    }
                    stack.last!.add(frame.node!)
                    if frame.chained { try closeFrame() }
                }
                switch s.peek {
                case .word("if"):
                    _ = s.next(); stack.append(Frame(.ifBlock, try rest(), location))
                case .word("with"):
                    _ = s.next(); stack.append(Frame(.withBlock, try rest(), location))
                case .word("range"):
                    _ = s.next(); stack.append(Frame(.rangeBlock, try rest(), location))
                case .word("else"):
                    _ = s.next()
                    guard stack.count > 1 else { throw TemplateSyntaxError(location: location, message: "else outside a block") }
                    stack.last!.inElse = true
                    if case .word(let kw)? = s.peek, kw == "if" || kw == "with" {
                        _ = s.next()
                        stack.append(Frame(kw == "if" ? .ifBlock : .withBlock, try rest(), location, chained: true))
                    }
                case .word("end"):
                    try closeFrame()
                case .word("define"):
                    _ = s.next()
                    guard case .string(let name)? = s.next() else { throw TemplateSyntaxError(location: location, message: "define needs a name") }
                    stack.append(Frame(.define(name), nil, location))
                case .word("block"):
                    _ = s.next()
                    guard case .string(let name)? = s.next() else { throw TemplateSyntaxError(location: location, message: "block needs a name") }
                    let argument = s.atEnd ? nil : try rest()
                    stack.last!.add(.call(name: name, argument, location))
                    stack.append(Frame(.define(name), nil, location))
                case .word("template"):
                    _ = s.next()
                    guard case .string(let name)? = s.next() else { throw TemplateSyntaxError(location: location, message: "template needs a name") }
                    stack.last!.add(.call(name: name, s.atEnd ? nil : try rest(), location))
                case .word("break"):
                    stack.last!.add(.breakLoop)
                case .word("continue"):
                    stack.last!.add(.continueLoop)
                default:
                    stack.last!.add(.action(try rest(), location))
                }
            }
        }
        guard stack.count == 1 else {
            throw TemplateSyntaxError(location: stack.last!.location, message: "block is never closed with end")
        }
        return ParsedTemplate(nodes: stack[0].body, defines: defines)
    }
}

/// Offsets to line and column.
struct LineIndex {
    private var starts: [Int] = [0]
    /// Where every offset is, when the text is not a file of its own (`tpl`).
    var fixed: TemplateLocation?

    init(_ source: [Character]) {
        for (i, c) in source.enumerated() where c == "\n" || c == "\r\n" { starts.append(i + 1) }
    }

    func location(_ file: String, _ offset: Int) -> TemplateLocation {
        if let fixed { return fixed }
        var lo = 0, hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return TemplateLocation(file: file, line: lo + 1, column: offset - starts[lo] + 1)
    }
}
