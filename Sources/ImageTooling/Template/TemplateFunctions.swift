/// The template functions charts use around image references (Go's builtins and the sprig
/// functions Helm adds), evaluated with origins kept where the text passes through unchanged.
/// A function not listed here makes its result unknown, so it is reported, never guessed.
extension TemplateEngine {
    func call(_ name: String, _ args: [TemplateValue], scope: Scope, at: TemplateLocation) -> TemplateValue {
        // `default` and the boolean functions look at unknown arguments themselves.
        switch name {
        case "default":
            guard args.count == 2 else { return arity(name) }
            switch args[1].truth {
            case true?: return args[1]
            case false?: return args[0]
            case nil: return args[1]
            }
        case "and":
            for a in args {
                guard let t = a.truth else { return a }
                if !t { return a }
            }
            return args.last ?? .null
        case "or":
            for a in args {
                guard let t = a.truth else { return a }
                if t { return a }
            }
            return args.last ?? .null
        case "coalesce":
            for a in args {
                guard let t = a.truth else { return a }
                if t { return a }
            }
            return .null
        case "ternary":
            guard args.count == 3 else { return arity(name) }
            guard let t = args[2].truth else { return args[2] }
            return t ? args[0] : args[1]
        case "empty":
            guard args.count == 1, let t = args[0].truth else { return args.first ?? arity(name) }
            return .bool(!t)
        case "not":
            guard args.count == 1, let t = args[0].truth else { return args.first ?? arity(name) }
            return .bool(!t)
        default:
            break
        }
        if let unknown = args.first(where: \.isUnknown) { return unknown }
        switch name {
        case "include":
            guard args.count == 2, case .string(let n) = args[0] else { return arity(name) }
            return .string(include(n.string, args[1], at: at))
        case "tpl":
            guard args.count == 2, case .string(let text) = args[0] else { return arity(name) }
            // Text without actions passes through with its origin; anything else is rendered.
            guard text.string.contains("{{") else { return args[0] }
            do {
                let parsed = try TemplateParser.parse(text.string, file: at.file)
                let engine = nested(defines: parsed.defines)
                var s = Scope(dot: args[1], root: args[1])
                var out = TracedText()
                engine.render(parsed.nodes, scope: &s, into: &out, speculate: false)
                return .string(out.string.contains(TracedText.unknownMarker) ? out : .computed(out.string, "tpl"))
            } catch {
                return .unknown("tpl: \(error)")
            }
        case "required":
            guard args.count == 2 else { return arity(name) }
            return args[1].truth == true ? args[1] : .unknown("required value is empty: \(args[0].plain)")
        case "quote", "squote":
            let q = name == "quote" ? "\"" : "'"
            var out = TracedText()
            for (i, a) in args.enumerated() {
                if i > 0 { out.append(.computed(" ")) }
                out.append(.computed(q) + (a.text ?? TracedText()) + .computed(q))
            }
            return .string(out)
        case "toString", "print":
            var out = TracedText()
            for (i, a) in args.enumerated() {
                if i > 0, name == "print", !isString(args[i - 1]), !isString(a) { out.append(.computed(" ")) }
                out.append(a.text ?? TracedText())
            }
            return .string(out)
        case "printf":
            guard case .string(let format)? = args.first else { return arity(name) }
            return printf(format, Array(args.dropFirst()))
        case "trim": return mapText(args, name) { $0.trimming([" ", "\t", "\n", "\r"]) }
        case "trimPrefix", "trimSuffix":
            guard args.count == 2, let cut = args[0].text?.string, let text = args[1].text else { return arity(name) }
            let s = text.string
            if name == "trimPrefix", s.hasPrefix(cut) { return .string(text.slice(cut.count..<text.count)) }
            if name == "trimSuffix", s.hasSuffix(cut) { return .string(text.slice(0..<(text.count - cut.count))) }
            return args[1]
        case "trimAll":
            guard args.count == 2, let cut = args[0].text?.string, let text = args[1].text else { return arity(name) }
            return .string(text.trimming(Set(cut)))
        case "lower": return mapText(args, name) { .computed($0.string.lowercased()) }
        case "upper": return mapText(args, name) { .computed($0.string.uppercased()) }
        case "replace":
            guard args.count == 3, let old = args[0].text?.string, let new = args[1].text?.string, let text = args[2].text else {
                return arity(name)
            }
            guard text.string.contains(old) && !old.isEmpty else { return .string(text) }
            guard text.count / old.count * new.count <= Budget.maxCharacters else { return .unknown("replace: the result would be too long") }
            return .string(.computed(text.string.replacingOccurrences(of: old, with: new)))
        case "trunc":
            guard args.count == 2, case .int(let n, _) = args[0], let text = args[1].text else { return arity(name) }
            return .string(n >= 0 ? text.slice(0..<min(n, text.count)) : text.slice(max(0, text.count + n)..<text.count))
        case "cat":
            var out = TracedText()
            for a in args where a.truth != false {
                if !out.isEmpty { out.append(.computed(" ")) }
                out.append(a.text ?? TracedText())
            }
            return .string(out)
        case "join":
            guard args.count == 2, let sep = args[0].text, case .list(let items) = args[1] else { return arity(name) }
            var out = TracedText()
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(sep) }
                out.append(item.text ?? TracedText())
            }
            return .string(out)
        case "indent", "nindent":
            guard args.count == 2, case .int(let n, _) = args[0], let text = args[1].text else { return arity(name) }
            let lines = text.characters.count { $0 == "\n" } + 1
            guard n <= Budget.maxCharacters / lines else { return .unknown("\(name): the result would be too long") }
            return .string(indent(text, by: n, leadingNewline: name == "nindent"))
        case "dict":
            var map: [String: TemplateValue] = [:]
            var i = 0
            while i + 1 < args.count {
                map[args[i].plain] = args[i + 1]
                i += 2
            }
            return .map(map)
        case "list": return .list(args)
        case "get":
            guard args.count == 2 else { return arity(name) }
            return args[0][args[1].plain]
        case "index":
            guard var value = args.first else { return arity(name) }
            for key in args.dropFirst() {
                switch (value, key) {
                case (.list(let l), .int(let i, _)): value = l.indices.contains(i) ? l[i] : .null
                default: value = value[key.plain]
                }
            }
            return value
        case "hasKey":
            guard args.count == 2, case .map(let m) = args[0] else { return args.count == 2 ? .bool(false) : arity(name) }
            return .bool(m[args[1].plain] != nil)
        case "eq":
            guard let first = args.first else { return arity(name) }
            return .bool(args.dropFirst().contains { same(first, $0) })
        case "ne":
            guard args.count == 2 else { return arity(name) }
            return .bool(!same(args[0], args[1]))
        case "contains", "hasPrefix", "hasSuffix":
            guard args.count == 2, let needle = args[0].text?.string, let hay = args[1].text?.string else { return arity(name) }
            switch name {
            case "contains": return .bool(hay.contains(needle))
            case "hasPrefix": return .bool(hay.hasPrefix(needle))
            default: return .bool(hay.hasSuffix(needle))
            }
        case "len":
            switch args.first {
            case .string(let t)?: return .int(t.count, nil)
            case .list(let l)?: return .int(l.count, nil)
            case .map(let m)?: return .int(m.count, nil)
            default: return .int(0, nil)
            }
        case "first":
            if case .list(let l)? = args.first { return l.first ?? .null }
            return .null
        case "last":
            if case .list(let l)? = args.first { return l.last ?? .null }
            return .null
        case "toYaml":
            // Container lists in values reach manifests this way, so scalars keep their origins.
            guard let a = args.first else { return arity(name) }
            return .string(Self.yaml(a, indent: 0))
        case "toJson":
            guard let a = args.first else { return arity(name) }
            switch a {
            case .map, .list: return .string(.computed(a.plain, name))
            default: return .string(a.text ?? TracedText())
            }
        case "int", "int64":
            guard let a = args.first else { return arity(name) }
            switch a {
            case .int: return a
            // Out of range (or NaN) has no int: 0, rather than a trap.
            case .float(let d, _): return .int(Int(exactly: d.rounded(.towardZero)) ?? 0, nil)
            default: return Int(a.plain).map { .int($0, nil) } ?? .int(0, nil)
            }
        case "lt", "le", "gt", "ge":
            guard args.count == 2, let x = Double(args[0].plain), let y = Double(args[1].plain) else { return arity(name) }
            switch name {
            case "lt": return .bool(x < y)
            case "le": return .bool(x <= y)
            case "gt": return .bool(x > y)
            default: return .bool(x >= y)
            }
        case "kindIs":
            guard args.count == 2 else { return arity(name) }
            let kind: String = switch args[1] {
            case .string: "string"
            case .bool: "bool"
            case .int: "int"
            case .float: "float64"
            case .map: "map"
            case .list: "slice"
            case .null: "invalid"
            case .unknown: ""
            }
            return .bool(args[0].plain == kind)
        case "fail":
            return .unknown("the chart fails here: \(args.first?.plain ?? "")")
        default:
            return .unknown("template function \(name) is not evaluated by the image tooling")
        }
    }

    private func arity(_ name: String) -> TemplateValue { .unknown("unexpected arguments to \(name)") }

    /// YAML as Helm's `toYaml` writes it: keys sorted, block style, two-space indents.
    static func yaml(_ value: TemplateValue, indent: Int) -> TracedText {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .map(let map) where !map.isEmpty:
            var out = TracedText()
            for (i, key) in map.keys.sorted().enumerated() {
                if i > 0 { out.append(.computed("\n" + pad)) }
                out.append(.computed(key + ":"))
                out.append(nested(map[key]!, indent: indent))
            }
            return out
        case .list(let list) where !list.isEmpty:
            var out = TracedText()
            for (i, item) in list.enumerated() {
                if i > 0 { out.append(.computed("\n" + pad)) }
                out.append(.computed("- "))
                out.append(yaml(item, indent: indent + 2))
            }
            return out
        case .map: return .computed("{}")
        case .list: return .computed("[]")
        case .string(let text): return yamlScalar(text)
        case .unknown(let why): return .computed("<unknown: \(why)>")
        default: return value.text ?? TracedText()
        }
    }

    private static func nested(_ value: TemplateValue, indent: Int) -> TracedText {
        switch value {
        case .map(let m) where !m.isEmpty: return .computed("\n" + String(repeating: " ", count: indent + 2)) + yaml(value, indent: indent + 2)
        case .list(let l) where !l.isEmpty: return .computed("\n" + String(repeating: " ", count: indent)) + yaml(value, indent: indent)
        default: return .computed(" ") + yaml(value, indent: indent)
        }
    }

    private static func yamlScalar(_ text: TracedText) -> TracedText {
        let s = text.string
        let plainUnsafe = s.isEmpty || ["true", "false", "null", "~", "yes", "no", "on", "off"].contains(s.lowercased())
            || Double(s) != nil || s.contains(": ") || s.contains(" #") || s.hasSuffix(":") || s.contains("\n")
            || "-?:,[]{}#&*!|>'\"%@` ".contains(s.first ?? " ")
        guard plainUnsafe else { return text }
        let escaped = s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return escaped == s ? .computed("\"") + text + .computed("\"") : .computed("\"" + escaped + "\"")
    }

    private func isString(_ v: TemplateValue) -> Bool {
        if case .string = v { return true }
        return false
    }

    private func same(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x, _), .int(let y, _)): x == y
        case (.float(let x, _), .float(let y, _)): x == y
        case (.int(let x, _), .float(let y, _)), (.float(let y, _), .int(let x, _)): Double(x) == y
        default: a.plain == b.plain && isString(a) == isString(b)
        }
    }

    private func mapText(_ args: [TemplateValue], _ name: String, _ f: (TracedText) -> TracedText) -> TemplateValue {
        guard args.count == 1, let text = args[0].text else { return arity(name) }
        return .string(f(text))
    }

    private func indent(_ text: TracedText, by n: Int, leadingNewline: Bool) -> TracedText {
        let pad = TracedText.computed(String(repeating: " ", count: max(0, n)))
        var out = leadingNewline ? TracedText.computed("\n") : TracedText()
        var start = 0
        let chars = Array(text.string)
        for (i, c) in chars.enumerated() where c == "\n" {
            out.append(pad)
            out.append(text.slice(start..<(i + 1)))
            start = i + 1
        }
        out.append(pad)
        out.append(text.slice(start..<chars.count))
        return out
    }

    /// `%s`, `%v`, `%d`, `%q` and `%%`, the verbs image templates use.
    private func printf(_ format: TracedText, _ args: [TemplateValue]) -> TemplateValue {
        let f = Array(format.string)
        var out = TracedText()
        var literalStart = 0
        var next = 0
        var i = 0
        while i < f.count {
            guard f[i] == "%", i + 1 < f.count else { i += 1; continue }
            out.append(format.slice(literalStart..<i))
            let verb = f[i + 1]
            switch verb {
            case "%":
                out.append(.computed("%"))
            case "s", "v", "d", "q":
                guard next < args.count, let text = args[next].text else {
                    return .unknown("printf has fewer arguments than verbs")
                }
                out.append(verb == "q" ? .computed("\"") + text + .computed("\"") : text)
                next += 1
            default:
                return .unknown("printf verb %\(verb) is not evaluated by the image tooling")
            }
            i += 2
            literalStart = i
        }
        out.append(format.slice(literalStart..<f.count))
        return .string(out)
    }
}
