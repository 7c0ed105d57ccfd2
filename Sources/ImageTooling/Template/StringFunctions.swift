import Foundation

/// sprig's string functions. Where text passes through unchanged (trimmed, cut, quoted,
/// indented, joined), its characters keep their origins; anything rewritten is computed text.
enum StringFunctions {
    typealias Budget = TemplateEngine.RenderState

    static let all: [String: TemplateFunction] = [
        "quote": { _, args, _ in quote(args, "\"") },
        "squote": { _, args, _ in quote(args, "'") },
        "toString": { _, args, _ in
            guard args.count == 1 else { return TemplateFunctions.arity("toString") }
            return .string(TemplateFunctions.printed(args[0]))
        },
        "trim": { _, args, _ in text(args, "trim") { $0.trimming(whitespace) } },
        "trimAll": { _, args, _ in
            guard args.count == 2, let cut = args[0].text?.string, let t = args[1].text else { return TemplateFunctions.arity("trimAll") }
            return .string(t.trimming(Set(cut)))
        },
        "trimPrefix": { _, args, _ in
            guard args.count == 2, let cut = args[0].text?.string, let t = args[1].text else { return TemplateFunctions.arity("trimPrefix") }
            return .string(t.string.hasPrefix(cut) ? t.slice(cut.count..<t.count) : t)
        },
        "trimSuffix": { _, args, _ in
            guard args.count == 2, let cut = args[0].text?.string, let t = args[1].text else { return TemplateFunctions.arity("trimSuffix") }
            return .string(t.string.hasSuffix(cut) ? t.slice(0..<(t.count - cut.count)) : t)
        },
        "lower": { _, args, _ in text(args, "lower") { .computed($0.string.lowercased()) } },
        "upper": { _, args, _ in text(args, "upper") { .computed($0.string.uppercased()) } },
        "title": { _, args, _ in text(args, "title") { .computed(title($0.string)) } },
        "untitle": { _, args, _ in
            text(args, "untitle") { t in
                .computed(t.string.split(separator: " ", omittingEmptySubsequences: false)
                    .map { $0.prefix(1).lowercased() + $0.dropFirst() }.joined(separator: " "))
            }
        },
        "swapcase": { _, args, _ in
            text(args, "swapcase") { t in
                .computed(String(t.string.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) }))
            }
        },
        "camelcase": { _, args, _ in
            text(args, "camelcase") { t in .computed(t.string.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()) }
        },
        "kebabcase": { _, args, _ in text(args, "kebabcase") { .computed(words($0.string).joined(separator: "-")) } },
        "snakecase": { _, args, _ in text(args, "snakecase") { .computed(words($0.string).joined(separator: "_")) } },
        "replace": { _, args, _ in
            guard args.count == 3, let old = args[0].text?.string, let new = args[1].text?.string, let t = args[2].text else {
                return TemplateFunctions.arity("replace")
            }
            guard !old.isEmpty, t.string.contains(old) else { return .string(t) }
            guard t.count / old.count * new.count <= Budget.maxCharacters else { return .unknown("replace: the result would be too long") }
            return .text(t.string.replacingOccurrences(of: old, with: new))
        },
        "trunc": { _, args, _ in
            guard args.count == 2, let n = NumberFunctions.int(args[0]), let t = args[1].text else { return TemplateFunctions.arity("trunc") }
            if n >= 0 { return .string(t.slice(0..<min(n, t.count))) }
            return .string(t.slice(max(0, t.count + n)..<t.count))
        },
        "substr": { _, args, _ in
            guard args.count == 3, let start = NumberFunctions.int(args[0]), let end = NumberFunctions.int(args[1]), let t = args[2].text else {
                return TemplateFunctions.arity("substr")
            }
            let lo = max(0, start), hi = end < 0 || end > t.count ? t.count : end
            return .string(lo < hi ? t.slice(lo..<hi) : TracedText())
        },
        "repeat": { _, args, _ in
            guard args.count == 2, let n = NumberFunctions.int(args[0]), let t = args[1].text else { return TemplateFunctions.arity("repeat") }
            guard n <= 0 || t.count <= Budget.maxCharacters / n else { return .unknown("repeat: the result would be too long") }
            return .text(String(repeating: t.string, count: max(0, n)))
        },
        "nospace": { _, args, _ in text(args, "nospace") { .computed($0.string.filter { !$0.isWhitespace }) } },
        "abbrev": { _, args, _ in
            guard args.count == 2, let n = NumberFunctions.int(args[0]), let t = args[1].text else { return TemplateFunctions.arity("abbrev") }
            guard n >= 4, t.count > n else { return .string(t) }
            return .string(t.slice(0..<(n - 3)) + .computed("..."))
        },
        "abbrevboth": { _, args, _ in
            guard args.count == 3, let t = args[2].text else { return TemplateFunctions.arity("abbrevboth") }
            return .text(t.string)
        },
        "initials": { _, args, _ in
            text(args, "initials") { .computed($0.string.split(whereSeparator: \.isWhitespace).compactMap(\.first).map(String.init).joined()) }
        },
        "wrap": { _, args, _ in
            guard args.count == 2, let n = NumberFunctions.int(args[0]), let t = args[1].text else { return TemplateFunctions.arity("wrap") }
            return .text(wrap(t.string, width: n, newline: "\n"))
        },
        "wrapWith": { _, args, _ in
            guard args.count == 3, let n = NumberFunctions.int(args[0]), let t = args[2].text else { return TemplateFunctions.arity("wrapWith") }
            return .text(wrap(t.string, width: n, newline: args[1].string))
        },
        "contains": { _, args, _ in
            guard args.count == 2, let needle = args[0].text?.string, let hay = args[1].text?.string else { return TemplateFunctions.arity("contains") }
            return .bool(needle.isEmpty || hay.contains(needle))
        },
        "hasPrefix": { _, args, _ in
            guard args.count == 2, let p = args[0].text?.string, let s = args[1].text?.string else { return TemplateFunctions.arity("hasPrefix") }
            return .bool(s.hasPrefix(p))
        },
        "hasSuffix": { _, args, _ in
            guard args.count == 2, let p = args[0].text?.string, let s = args[1].text?.string else { return TemplateFunctions.arity("hasSuffix") }
            return .bool(s.hasSuffix(p))
        },
        "cat": { _, args, _ in
            var out = TracedText()
            var first = true
            for a in args where !a.isNull {
                if !first { out.append(.computed(" ")) }
                first = false
                out.append(a.text ?? TracedText())
            }
            return .string(out)
        },
        "indent": { _, args, _ in indent(args, "indent", leadingNewline: false) },
        "nindent": { _, args, _ in indent(args, "nindent", leadingNewline: true) },
        "plural": { _, args, _ in
            guard args.count == 3, let n = NumberFunctions.int(args[2]) else { return TemplateFunctions.arity("plural") }
            return n == 1 ? args[0] : args[1]
        },
        "split": { _, args, _ in
            guard args.count == 2, let sep = args[0].text?.string, let t = args[1].text else { return TemplateFunctions.arity("split") }
            var map: [String: TemplateValue] = [:]
            for (i, part) in pieces(t, separator: sep, limit: -1).enumerated() { map["_\(i)"] = .string(part) }
            return .dict(map)
        },
        "splitn": { _, args, _ in
            guard args.count == 3, let sep = args[0].text?.string, let n = NumberFunctions.int(args[1]), let t = args[2].text else {
                return TemplateFunctions.arity("splitn")
            }
            var map: [String: TemplateValue] = [:]
            for (i, part) in pieces(t, separator: sep, limit: n).enumerated() { map["_\(i)"] = .string(part) }
            return .dict(map)
        },
        "splitList": { _, args, _ in
            guard args.count == 2, let sep = args[0].text?.string, let t = args[1].text else { return TemplateFunctions.arity("splitList") }
            return .list(pieces(t, separator: sep, limit: -1).map { .string($0) })
        },
        "join": { _, args, _ in
            guard args.count == 2, let sep = args[0].text else { return TemplateFunctions.arity("join") }
            var out = TracedText()
            for (i, item) in strings(args[1]).enumerated() {
                if i > 0 { out.append(sep) }
                out.append(item)
            }
            return .string(out)
        },
        "toStrings": { _, args, _ in
            guard args.count == 1 else { return TemplateFunctions.arity("toStrings") }
            return .list(strings(args[0]).map { .string($0) })
        },
        "sortAlpha": { _, args, _ in
            guard args.count == 1 else { return TemplateFunctions.arity("sortAlpha") }
            return .list(strings(args[0]).sorted { $0.string < $1.string }.map { .string($0) })
        },
        "shuffle": { _, args, _ in text(args, "shuffle") { .computed($0.string, "shuffled text") } },
        "regexMatch": { _, args, _ in regex(args, "regexMatch", 2) { re, s in .bool(re.firstMatch(in: s, range: whole(s)) != nil) } },
        "regexFind": { _, args, _ in
            regex(args, "regexFind", 2) { re, s in
                re.firstMatch(in: s, range: whole(s)).map { .text((s as NSString).substring(with: $0.range)) } ?? .text("")
            }
        },
        "regexFindAll": { _, args, _ in
            guard args.count == 3, let n = NumberFunctions.int(args[2]) else { return TemplateFunctions.arity("regexFindAll") }
            return regex(Array(args.prefix(2)), "regexFindAll", 2) { re, s in
                let matches = re.matches(in: s, range: whole(s)).map { TemplateValue.text((s as NSString).substring(with: $0.range)) }
                return .list(n < 0 ? matches : Array(matches.prefix(n)))
            }
        },
        "regexReplaceAll": { _, args, _ in
            guard args.count == 3 else { return TemplateFunctions.arity("regexReplaceAll") }
            return regex(Array(args.prefix(2)), "regexReplaceAll", 2) { re, s in
                .text(re.stringByReplacingMatches(in: s, range: whole(s), withTemplate: goTemplate(args[2].string)))
            }
        },
        "regexReplaceAllLiteral": { _, args, _ in
            guard args.count == 3 else { return TemplateFunctions.arity("regexReplaceAllLiteral") }
            return regex(Array(args.prefix(2)), "regexReplaceAllLiteral", 2) { re, s in
                .text(re.stringByReplacingMatches(in: s, range: whole(s), withTemplate: NSRegularExpression.escapedTemplate(for: args[2].string)))
            }
        },
        "regexSplit": { _, args, _ in
            guard args.count == 3, let n = NumberFunctions.int(args[2]) else { return TemplateFunctions.arity("regexSplit") }
            return regex(Array(args.prefix(2)), "regexSplit", 2) { re, s in
                var parts: [TemplateValue] = []
                var last = 0
                let ns = s as NSString
                for match in re.matches(in: s, range: whole(s)) {
                    if n > 0, parts.count == n - 1 { break }
                    parts.append(.text(ns.substring(with: NSRange(location: last, length: match.range.location - last))))
                    last = match.range.location + match.range.length
                }
                parts.append(.text(ns.substring(from: last)))
                return .list(n == 0 ? [] : parts)
            }
        },
        "regexQuoteMeta": { _, args, _ in text(args, "regexQuoteMeta") { .computed(NSRegularExpression.escapedPattern(for: $0.string)) } },
    ]

    static let whitespace: Set<Character> = [" ", "\t", "\n", "\r", "\r\n"]

    static func text(_ args: [TemplateValue], _ name: String, _ f: (TracedText) -> TracedText) -> TemplateValue {
        guard args.count == 1, let t = args[0].text else { return TemplateFunctions.arity(name) }
        return .string(f(t))
    }

    /// `quote`: each argument quoted (nothing for a nil one), separated by spaces.
    static func quote(_ args: [TemplateValue], _ q: String) -> TemplateValue {
        var out = TracedText()
        for a in args where !a.isNull {
            if !out.isEmpty { out.append(.computed(" ")) }
            let inner = a.text ?? TracedText()
            if q == "\"", inner.string.contains(where: { $0 == "\"" || $0 == "\\" || $0 == "\n" }) {
                out.append(.computed(GoFormat.quoted(inner.string)))
            } else {
                out.append(.computed(q) + inner + .computed(q))
            }
        }
        return .string(out)
    }

    static func indent(_ args: [TemplateValue], _ name: String, leadingNewline: Bool) -> TemplateValue {
        guard args.count == 2, let n = NumberFunctions.int(args[0]), let t = args[1].text else { return TemplateFunctions.arity(name) }
        let lines = t.characters.count { $0 == "\n" } + 1
        guard n <= Budget.maxCharacters / lines else { return .unknown("\(name): the result would be too long") }
        let pad = TracedText.computed(String(repeating: " ", count: max(0, n)))
        var out = leadingNewline ? TracedText.computed("\n") : TracedText()
        var start = 0
        for (i, c) in t.characters.enumerated() where c == "\n" {
            out.append(pad)
            out.append(t.slice(start..<(i + 1)))
            start = i + 1
        }
        out.append(pad)
        out.append(t.slice(start..<t.count))
        return .string(out)
    }

    /// The items of a list as text (a nil item dropped, as sprig's `strslice` drops it).
    static func strings(_ value: TemplateValue) -> [TracedText] {
        switch value {
        case .list(let items): items.filter { !$0.isNull }.map { $0.text ?? TracedText() }
        case .null: []
        default: [value.text ?? TracedText()]
        }
    }

    /// Pieces of `t` between separators, each keeping its origin.
    static func pieces(_ t: TracedText, separator: String, limit: Int) -> [TracedText] {
        let chars = t.characters, sep = Array(separator)
        guard !sep.isEmpty else { return chars.indices.map { t.slice($0..<($0 + 1)) } }
        var out: [TracedText] = []
        var start = 0, i = 0
        while i + sep.count <= chars.count {
            if limit > 0, out.count == limit - 1 { break }
            if Array(chars[i..<(i + sep.count)]) == sep {
                out.append(t.slice(start..<i))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        out.append(t.slice(start..<chars.count))
        return limit == 0 ? [] : out
    }

    static func title(_ s: String) -> String {
        var out = ""
        var atStart = true
        for c in s {
            out += atStart ? c.uppercased() : String(c)
            atStart = c.isWhitespace || c == "-" || c == "_"
        }
        return out
    }

    /// Words of a camel-cased or separated name, lower-cased (for `kebabcase`, `snakecase`).
    static func words(_ s: String) -> [String] {
        var out: [String] = []
        var current = ""
        for c in s {
            if c == "_" || c == "-" || c == " " {
                if !current.isEmpty { out.append(current) }
                current = ""
            } else if c.isUppercase, !current.isEmpty, !(current.last?.isUppercase ?? false) {
                out.append(current)
                current = c.lowercased()
            } else {
                current += c.lowercased()
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    static func wrap(_ s: String, width: Int, newline: String) -> String {
        var lines: [String] = []
        var line = ""
        for word in s.split(separator: " ", omittingEmptySubsequences: true) {
            if !line.isEmpty, line.count + 1 + word.count > max(1, width) {
                lines.append(line)
                line = String(word)
            } else {
                line += (line.isEmpty ? "" : " ") + word
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines.joined(separator: newline)
    }

    static func whole(_ s: String) -> NSRange { NSRange(location: 0, length: (s as NSString).length) }

    /// A Go RE2 expression compiled as ICU reads it (the two agree on what charts write).
    static func regex(_ args: [TemplateValue], _ name: String, _ count: Int, _ f: (NSRegularExpression, String) -> TemplateValue) -> TemplateValue {
        guard args.count == count else { return TemplateFunctions.arity(name) }
        guard let re = try? NSRegularExpression(pattern: args[0].string) else {
            return .unknown("\(name): \(args[0].string.debugDescription) is not a regular expression")
        }
        return f(re, args[1].string)
    }

    /// Go's `${1}` and `$1` in a replacement, as ICU's `$1` (a literal `$` stays literal).
    static func goTemplate(_ s: String) -> String {
        var out = ""
        let c = Array(s)
        var i = 0
        while i < c.count {
            if c[i] == "$", i + 1 < c.count, c[i + 1] == "{", let close = c[(i + 2)...].firstIndex(of: "}") {
                let name = String(c[(i + 2)..<close])
                out += Int(name) != nil ? "$" + name : ""
                i = close + 1
            } else if c[i] == "$", i + 1 < c.count, c[i + 1].isLetter || c[i + 1].isNumber || c[i + 1] == "_" {
                // Go reads the longest name: `$1W` is the group named `1W`, which is nothing.
                var end = i + 1
                while end < c.count, c[end].isLetter || c[end].isNumber || c[end] == "_" { end += 1 }
                let name = String(c[(i + 1)..<end])
                out += Int(name) != nil ? "$" + name : ""
                i = end
            } else if c[i] == "$" || c[i] == "\\" {
                out += "\\" + String(c[i])
                i += 1
            } else {
                out.append(c[i])
                i += 1
            }
        }
        return out
    }
}
