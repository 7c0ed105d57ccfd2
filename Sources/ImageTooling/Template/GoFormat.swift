import Foundation

/// Numbers and `printf` as Go's fmt prints them, since a chart's text is whatever Go made of it:
/// `{{ 1000000.0 }}` is `1e+06` in Helm, and `%05.2f` pads as Go pads.
enum GoFormat {
    /// The shortest decimal digits of `d` and where the point goes: `d = 0.DIGITS × 10^point`.
    static func shortestDecimal(_ d: Double) -> (digits: [Character], point: Int) {
        // Swift's description is the shortest text that reads back as the same double, as Go's is.
        let text = "\(abs(d))"
        let parts = text.lowercased().split(separator: "e", maxSplits: 1)
        let exponent = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        let mantissa = parts[0]
        let integer = mantissa.split(separator: ".", omittingEmptySubsequences: false).first ?? ""
        let fraction = mantissa.split(separator: ".", omittingEmptySubsequences: false).dropFirst().first ?? ""
        var digits = Array(integer + fraction)
        var point = integer.count + exponent
        while let first = digits.first, first == "0", digits.count > 1 {
            digits.removeFirst()
            point -= 1
        }
        while let last = digits.last, last == "0", digits.count > 1 { digits.removeLast() }
        if digits == ["0"] { point = 1 }
        return (digits, point)
    }

    /// `%v` (and `%g`) of a float64, as `strconv.FormatFloat(d, 'g', -1, 64)`: shortest digits,
    /// in exponent form when the exponent is below -4 or 6 and above (Helm prints a value of
    /// 1000000 as `1e+06`, and 123456 as it is).
    static func float(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Inf" : "+Inf" }
        if d == 0 { return d.sign == .minus ? "-0" : "0" }
        let (digits, point) = shortestDecimal(d)
        let sign = d < 0 ? "-" : ""
        let exp = point - 1
        if exp < -4 || exp >= 6 { return sign + exponential(digits, exp) }
        return sign + positional(digits, point)
    }

    private static func exponential(_ digits: [Character], _ exp: Int) -> String {
        var out = String(digits[0])
        if digits.count > 1 { out += "." + String(digits.dropFirst()) }
        let e = abs(exp)
        return out + (exp < 0 ? "e-" : "e+") + (e < 10 ? "0" : "") + String(e)
    }

    private static func positional(_ digits: [Character], _ point: Int) -> String {
        if point <= 0 { return "0." + String(repeating: "0", count: -point) + String(digits) }
        if point >= digits.count { return String(digits) + String(repeating: "0", count: point - digits.count) }
        return String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
    }

    /// A float64 as encoding/json writes it: positional from 1e-6 to 1e21, else exponent form.
    static func json(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == 0 { return "0" }
        let (digits, point) = shortestDecimal(d)
        let sign = d < 0 ? "-" : ""
        if abs(d) < 1e-6 || abs(d) >= 1e21 {
            let exp = point - 1
            var out = String(digits[0])
            if digits.count > 1 { out += "." + String(digits.dropFirst()) }
            return sign + out + (exp < 0 ? "e-" : "e+") + String(abs(exp))
        }
        return sign + positional(digits, point)
    }

    // MARK: printf

    struct Verb {
        var minus = false, plus = false, sharp = false, zero = false, space = false
        var width: Int?
        var precision: Int?
        var letter: Character = "v"
    }

    /// One argument formatted by one verb; text passes through with its origins where the verb
    /// prints it unchanged (`%s`, `%v` of a string, no width).
    static func format(_ value: TemplateValue, _ verb: Verb) -> TracedText {
        let body: TracedText
        switch (verb.letter, value) {
        case ("s", .string(let t)), ("v", .string(let t)):
            body = verb.precision.map { t.slice(0..<$0) } ?? t
        case ("q", .string(let t)):
            body = .computed(quoted(t.string))
        case ("v", _):
            body = .computed(v(value))
        case (_, .list(let items)):
            // Go applies the verb to each element: `%s` of [1 2] is `[%!s(int=1) %!s(int=2)]`.
            var each = verb
            each.width = nil
            body = .computed("[" + items.map { format($0, each).string }.joined(separator: " ") + "]")
        case (_, .map(let m)):
            var each = verb
            each.width = nil
            body = .computed("map[" + m.sortedKeys.map { "\($0):" + format(m[$0]!, each).string }.joined(separator: " ") + "]")
        case ("s", .int), ("s", .float), ("s", .bool), ("s", .null), ("d", .float), ("d", .string), ("d", .bool), ("f", .string), ("f", .int), ("t", .string):
            body = .computed("%!\(verb.letter)(\(goType(value))=\(v(value)))")
        case ("d", .int(let i, _)): body = .computed(signed(String(abs(i)), negative: i < 0, verb))
        case ("x", .int(let i, _)), ("X", .int(let i, _)), ("o", .int(let i, _)), ("b", .int(let i, _)):
            let radix = verb.letter == "o" ? 8 : verb.letter == "b" ? 2 : 16
            var digits = String(abs(i), radix: radix)
            if verb.letter == "X" { digits = digits.uppercased() }
            body = .computed(signed(digits, negative: i < 0, verb))
        case ("x", .string(let t)), ("X", .string(let t)):
            let hex = Array(t.string.utf8).map { String(format: verb.letter == "x" ? "%02x" : "%02X", $0) }.joined()
            body = .computed(hex)
        case ("f", .float(let d, _)), ("F", .float(let d, _)):
            body = .computed(signed(String(format: "%.\(verb.precision ?? 6)f", abs(d)), negative: d < 0, verb))
        case ("e", .float(let d, _)):
            body = .computed(signed(String(format: "%.\(verb.precision ?? 6)e", abs(d)), negative: d < 0, verb))
        case ("g", .float(let d, _)):
            body = .computed(verb.precision == nil ? float(d) : String(format: "%.\(verb.precision!)g", d))
        case ("t", .bool(let b)): body = .computed(b ? "true" : "false")
        case ("c", .int(let i, _)): body = .computed(Unicode.Scalar(UInt32(clamping: max(0, i))).map { String(Character($0)) } ?? "\u{FFFD}")
        case ("q", .int(let i, _)): body = .computed("'" + (Unicode.Scalar(UInt32(clamping: max(0, i))).map { String(Character($0)) } ?? "") + "'")
        default:
            body = .computed("%!\(verb.letter)(\(goType(value))=\(v(value)))")
        }
        return pad(body, verb)
    }

    private static func signed(_ digits: String, negative: Bool, _ verb: Verb) -> String {
        var digits = digits
        let sign = negative ? "-" : verb.plus ? "+" : verb.space ? " " : ""
        if verb.zero, !verb.minus, let width = verb.width, digits.count + sign.count < width {
            digits = String(repeating: "0", count: width - digits.count - sign.count) + digits
        }
        return sign + digits
    }

    private static func pad(_ text: TracedText, _ verb: Verb) -> TracedText {
        guard let width = verb.width, text.count < width else { return text }
        let fill = TracedText.computed(String(repeating: verb.zero && !verb.minus && verb.letter == "s" ? "0" : " ", count: width - text.count))
        return verb.minus ? text + fill : fill + text
    }

    /// `%v`: scalars as Go prints them, maps as `map[k:v]`, lists as `[a b]`.
    static func v(_ value: TemplateValue) -> String {
        switch value {
        case .string(let t): t.string
        case .bool(let b): b ? "true" : "false"
        case .int(let i, _): String(i)
        case .float(let d, let t): t?.string ?? float(d)
        case .null: "<nil>"
        case .map(let m): "map[" + m.sortedKeys.map { "\($0):\(v(m[$0]!))" }.joined(separator: " ") + "]"
        case .list(let l): "[" + l.map(v).joined(separator: " ") + "]"
        case .unknown: ""
        }
    }

    /// Go's name for the type of a value as templates hold it.
    static func goType(_ value: TemplateValue) -> String {
        switch value {
        case .string: "string"
        case .bool: "bool"
        case .int: "int"
        case .float: "float64"
        case .map: "map[string]interface {}"
        case .list: "[]interface {}"
        case .null: "<nil>"
        case .unknown: "unknown"
        }
    }

    /// `%q` of a string: Go's double-quoted literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f { out += String(format: "\\x%02x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// `printf`: Go's verbs, flags, width and precision. Text arguments printed whole keep their origins.
    static func printf(_ format: TracedText, _ args: [TemplateValue]) -> TracedText {
        let f = format.characters
        var out = TracedText()
        var literalStart = 0
        var next = 0
        var i = 0
        while i < f.count {
            guard f[i] == "%" else { i += 1; continue }
            out.append(format.slice(literalStart..<i))
            var j = i + 1
            var verb = Verb()
            flags: while j < f.count {
                switch f[j] {
                case "-": verb.minus = true
                case "+": verb.plus = true
                case "#": verb.sharp = true
                case "0": verb.zero = true
                case " ": verb.space = true
                default: break flags
                }
                j += 1
            }
            func number() -> Int? {
                var n: Int?
                while j < f.count, let digit = f[j].wholeNumberValue {
                    n = min((n ?? 0) * 10 + digit, 100_000)
                    j += 1
                }
                return n
            }
            verb.width = number()
            if j < f.count, f[j] == "." {
                j += 1
                verb.precision = number() ?? 0
            }
            guard j < f.count else {
                out.append(.computed("%!(NOVERB)"))
                return out
            }
            verb.letter = f[j]
            if verb.letter == "%" {
                out.append(.computed("%"))
            } else if next < args.count {
                out.append(Self.format(args[next], verb))
                next += 1
            } else {
                out.append(.computed("%!\(verb.letter)(MISSING)"))
            }
            i = j + 1
            literalStart = i
        }
        out.append(format.slice(literalStart..<f.count))
        if next < args.count {
            out.append(.computed("%!(EXTRA " + args[next...].map { "\(goType($0))=\(v($0))" }.joined(separator: ", ") + ")"))
        }
        return out
    }
}
