import Foundation

/// A template function: the engine (for `include` and `tpl`), the arguments (a piped value
/// last), and where the call is.
typealias TemplateFunction = @Sendable (TemplateEngine, [TemplateValue], TemplateLocation) -> TemplateValue

/// The functions charts call: Go's builtins, sprig's, and Helm's own, evaluated with origins kept
/// where text passes through unchanged. A name not here makes its result unknown, so it is
/// reported, never guessed.
enum TemplateFunctions {
    /// Every function the engine evaluates, by name (the README lists them from here).
    static let all: [String: TemplateFunction] = {
        var table: [String: TemplateFunction] = [:]
        for part in [core, StringFunctions.all, CollectionFunctions.all, NumberFunctions.all, EncodingFunctions.all,
                     InstallTimeFunctions.all] {
            table.merge(part) { first, _ in first }
        }
        return table
    }()

    /// Functions that look at unknown arguments themselves; every other function's result is
    /// unknown when an argument is.
    static let acceptUnknown: Set<String> = ["default", "coalesce", "ternary", "empty", "not", "fail", "required"]

    static func arity(_ name: String) -> TemplateValue { .unknown("unexpected arguments to \(name)") }

    static let core: [String: TemplateFunction] = [
        "default": { _, args, _ in
            guard args.count == 2 else { return arity("default") }
            switch args[1].truth {
            case true?: return args[1]
            case false?: return args[0]
            case nil: return args[1]
            }
        },
        "coalesce": { _, args, _ in
            for a in args {
                guard let t = a.truth else { return a }
                if t { return a }
            }
            return .null
        },
        "ternary": { _, args, _ in
            guard args.count == 3 else { return arity("ternary") }
            guard let t = args[2].truth else { return args[2] }
            return t ? args[0] : args[1]
        },
        "empty": { _, args, _ in
            guard args.count == 1 else { return arity("empty") }
            guard let t = args[0].truth else { return args[0] }
            return .bool(!t)
        },
        "not": { _, args, _ in
            guard args.count == 1 else { return arity("not") }
            guard let t = args[0].truth else { return args[0] }
            return .bool(!t)
        },
        "include": { engine, args, at in
            guard args.count == 2, case .string(let name) = args[0] else { return arity("include") }
            return .string(engine.include(name.string, args[1], at: at, speculate: engine.state.speculateCalls))
        },
        "tpl": { engine, args, at in
            guard args.count == 2, case .string(let text) = args[0] else { return arity("tpl") }
            return engine.tpl(text, args[1], at: at)
        },
        "required": { _, args, _ in
            guard args.count == 2 else { return arity("required") }
            if args[1].isUnknown { return args[1] }
            return args[1].isNull || args[1].string.isEmpty && args[1].mapValue == nil && args[1].listValue == nil
                ? .unknown("required value is empty: \(args[0].string)") : args[1]
        },
        "fail": { _, args, _ in .unknown("the chart fails here: \(args.first?.string ?? "")") },
        // As `helm template` answers it: no cluster, so every lookup finds nothing.
        "lookup": { _, args, _ in args.count == 4 ? .dict([:]) : arity("lookup") },
        "print": { _, args, _ in .string(print(args)) },
        "println": { _, args, _ in
            var out = TracedText()
            for (i, a) in args.enumerated() {
                if i > 0 { out.append(.computed(" ")) }
                out.append(printed(a))
            }
            out.append(.computed("\n"))
            return .string(out)
        },
        "printf": { _, args, _ in
            guard case .string(let format)? = args.first else { return arity("printf") }
            return .string(GoFormat.printf(format, Array(args.dropFirst())))
        },
        "eq": { _, args, _ in
            guard let first = args.first, args.count >= 2 else { return arity("eq") }
            return .bool(args.dropFirst().contains { same(first, $0) })
        },
        "ne": { _, args, _ in args.count == 2 ? .bool(!same(args[0], args[1])) : arity("ne") },
        "lt": { _, args, _ in compare(args, "lt") { $0 < 0 } },
        "le": { _, args, _ in compare(args, "le") { $0 <= 0 } },
        "gt": { _, args, _ in compare(args, "gt") { $0 > 0 } },
        "ge": { _, args, _ in compare(args, "ge") { $0 >= 0 } },
        "len": { _, args, _ in
            switch args.first {
            case .string(let t)?: return .int(t.string.utf8.count, nil)
            case .list(let l)?: return .int(l.count, nil)
            case .map(let m)?: return .int(m.count, nil)
            case .null?: return .int(0, nil)
            default: return .unknown("len of \(args.first.map(GoFormat.goType) ?? "nothing")")
            }
        },
        "index": { _, args, _ in
            guard var value = args.first else { return arity("index") }
            for key in args.dropFirst() {
                switch (value, key) {
                case (.list(let l), _):
                    guard let i = NumberFunctions.int(key) else { return .unknown("index of a list with \(key.plain)") }
                    guard l.indices.contains(i) else { return .unknown("index out of range: \(i)") }
                    value = l[i]
                case (.map(let m), _): value = m[key.string] ?? .null
                case (.null, _): return .null
                default: return .unknown("cannot index \(GoFormat.goType(value))")
                }
            }
            return value
        },
        "html": { _, args, _ in
            .text(args.map(\.string).joined().replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;").replacingOccurrences(of: "'", with: "&#39;"))
        },
        "js": { _, args, _ in
            var out = ""
            for c in args.map(\.string).joined().unicodeScalars {
                switch c {
                case "\\": out += "\\\\"
                case "'": out += "\\'"
                case "\"": out += "\\\""
                case "<": out += "\\u003C"
                case ">": out += "\\u003E"
                case "&": out += "\\u0026"
                case "=": out += "\\u003D"
                case "\n": out += "\\u000A"
                default: out.unicodeScalars.append(c)
                }
            }
            return .text(out)
        },
        "urlquery": { _, args, _ in
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-_.~")
            let s = args.map(\.string).joined()
            let encoded = s.unicodeScalars.map { c -> String in
                if c == " " { return "+" }
                if c.isASCII, allowed.contains(c) { return String(c) }
                return String(c).utf8.map { String(format: "%%%02X", $0) }.joined()
            }.joined()
            return .text(encoded)
        },
    ]

    /// `print`: operands side by side, a space between two that are not strings.
    static func print(_ args: [TemplateValue]) -> TracedText {
        var out = TracedText()
        for (i, a) in args.enumerated() {
            if i > 0, !isString(args[i - 1]), !isString(a) { out.append(.computed(" ")) }
            out.append(printed(a))
        }
        return out
    }

    /// What `print` and `toString` make of a value: `<nil>` for nothing, as Go prints it.
    static func printed(_ value: TemplateValue) -> TracedText {
        if case .null = value { return .computed("<nil>") }
        return value.text ?? TracedText()
    }

    static func isString(_ v: TemplateValue) -> Bool {
        if case .string = v { return true }
        return false
    }

    static func same(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x, _), .int(let y, _)): x == y
        case (.float(let x, _), .float(let y, _)): x == y
        case (.int(let x, _), .float(let y, _)), (.float(let y, _), .int(let x, _)): Double(x) == y
        case (.string(let x), .string(let y)): x.string == y.string
        case (.list(let x), .list(let y)): x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.map(let x), .map(let y)):
            x === y || (x.count == y.count && x.entries.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false })
        default: false
        }
    }

    private static func compare(_ args: [TemplateValue], _ name: String, _ test: (Int) -> Bool) -> TemplateValue {
        guard args.count == 2 else { return arity(name) }
        switch (args[0], args[1]) {
        case (.string(let x), .string(let y)):
            return .bool(test(x.string < y.string ? -1 : x.string == y.string ? 0 : 1))
        default:
            guard let x = NumberFunctions.double(args[0]), let y = NumberFunctions.double(args[1]) else {
                return .unknown("\(name): incompatible types for comparison")
            }
            return .bool(test(x < y ? -1 : x == y ? 0 : 1))
        }
    }
}

extension TemplateEngine {
    func call(_ name: String, _ args: [TemplateValue], scope: Scope, at: TemplateLocation) -> TemplateValue {
        // sprig's `mustX` is `X` that fails instead of answering empty; both fail the same way here.
        let base = name.hasPrefix("must") && name.count > 4 ? name.dropFirst(4).prefix(1).lowercased() + name.dropFirst(5) : name
        guard let function = TemplateFunctions.all[name] ?? TemplateFunctions.all[base] else {
            return .unknown("template function \(name) is not evaluated by the image tooling")
        }
        if !TemplateFunctions.acceptUnknown.contains(name), let unknown = args.first(where: \.isUnknown) { return unknown }
        // Past the budget nothing is computed: a function would only copy text that is never read.
        if state.isSpent { return .unknown(Self.budgetSpent) }
        state.speculateCalls = scope.speculate
        return function(self, args, at)
    }

    /// A method of a value Helm gives templates (`.Capabilities.APIVersions.Has`, `.Files.Get`).
    func callMethod(_ method: String, on receiver: TemplateValue, _ args: [TemplateValue]) -> TemplateValue {
        if let unknown = args.first(where: \.isUnknown) { return unknown }
        switch (method, receiver) {
        case ("Has", .list(let versions)):
            guard args.count == 1 else { return TemplateFunctions.arity(method) }
            return .bool(versions.contains { $0.string == args[0].string })
        case (_, .map(let m)) where m.isFiles:
            return ChartContext.files(method, on: m, args)
        case (_, .unknown):
            return receiver
        default:
            return .unknown("\(method) is not a method the image tooling knows")
        }
    }

    /// `tpl`: the text rendered as a template with `context` as its dot. Its literal text keeps
    /// the origins it had as a value, so an image written in a values string passed through
    /// `tpl` can still be rewritten where it is written.
    func tpl(_ text: TracedText, _ context: TemplateValue, at: TemplateLocation) -> TemplateValue {
        guard text.string.contains("{{") else { return .string(text) }
        do {
            let parsed = try TemplateParser.parse(text.string, file: at.file, traced: text, at: at)
            let engine = nested(defines: parsed.defines)
            var scope = Scope(dot: context, root: context)
            var out = TracedText()
            engine.render(parsed.nodes, scope: &scope, into: &out, speculate: false)
            return .string(out)
        } catch {
            return .unknown("tpl: \(error.message)")
        }
    }
}
