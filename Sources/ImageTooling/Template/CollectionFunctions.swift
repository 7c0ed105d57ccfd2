/// sprig's list and dict functions. Lists are values (every function returns a new one); dicts
/// are references, changed in place by `set`, `unset`, `merge` and `mergeOverwrite` as in Go.
enum CollectionFunctions {
    static let all: [String: TemplateFunction] = [
        "list": { _, args, _ in .list(args) },
        "tuple": { _, args, _ in .list(args) },
        "append": { _, args, _ in appended(args, "append") },
        "push": { _, args, _ in appended(args, "push") },
        "mustAppend": { _, args, _ in appended(args, "mustAppend") },
        "mustPush": { _, args, _ in appended(args, "mustPush") },
        "prepend": { _, args, _ in
            guard args.count == 2, let l = list(args[0]) else { return TemplateFunctions.arity("prepend") }
            return .list([args[1]] + l)
        },
        "concat": { _, args, _ in
            var out: [TemplateValue] = []
            for a in args {
                guard let l = list(a) else { return .unknown("concat of \(GoFormat.goType(a))") }
                out += l
            }
            return .list(out)
        },
        "first": { _, args, _ in listFunction(args, "first") { $0.first ?? .null } },
        "last": { _, args, _ in listFunction(args, "last") { $0.last ?? .null } },
        "rest": { _, args, _ in listFunction(args, "rest") { .list(Array($0.dropFirst())) } },
        "initial": { _, args, _ in listFunction(args, "initial") { .list(Array($0.dropLast())) } },
        "reverse": { _, args, _ in listFunction(args, "reverse") { .list($0.reversed()) } },
        "uniq": { _, args, _ in
            listFunction(args, "uniq") { items in
                var out: [TemplateValue] = []
                for item in items where !out.contains(where: { TemplateFunctions.same($0, item) }) { out.append(item) }
                return .list(out)
            }
        },
        "compact": { _, args, _ in listFunction(args, "compact") { .list($0.filter { $0.truth != false }) } },
        "without": { _, args, _ in
            guard let l = args.first.flatMap(list) else { return TemplateFunctions.arity("without") }
            let drop = args.dropFirst()
            return .list(l.filter { item in !drop.contains { TemplateFunctions.same($0, item) } })
        },
        "has": { _, args, _ in
            guard args.count == 2 else { return TemplateFunctions.arity("has") }
            return .bool((list(args[1]) ?? []).contains { TemplateFunctions.same($0, args[0]) })
        },
        "slice": { _, args, _ in
            guard let first = args.first else { return TemplateFunctions.arity("slice") }
            let bounds = args.dropFirst().compactMap(NumberFunctions.int)
            guard bounds.count == args.count - 1 else { return TemplateFunctions.arity("slice") }
            switch first {
            case .list(let l):
                let lo = bounds.first ?? 0, hi = bounds.count > 1 ? bounds[1] : l.count
                guard lo >= 0, lo <= hi, hi <= l.count else { return .unknown("slice out of range") }
                return .list(Array(l[lo..<hi]))
            case .string(let t):
                let lo = bounds.first ?? 0, hi = bounds.count > 1 ? bounds[1] : t.count
                guard lo >= 0, lo <= hi, hi <= t.count else { return .unknown("slice out of range") }
                return .string(t.slice(lo..<hi))
            case .null: return .null
            default: return .unknown("cannot slice \(GoFormat.goType(first))")
            }
        },
        "until": { _, args, _ in
            guard args.count == 1, let n = NumberFunctions.int(args[0]) else { return TemplateFunctions.arity("until") }
            return steps(0, n, n < 0 ? -1 : 1)
        },
        "untilStep": { _, args, _ in
            guard args.count == 3, let a = NumberFunctions.int(args[0]), let b = NumberFunctions.int(args[1]), let s = NumberFunctions.int(args[2]) else {
                return TemplateFunctions.arity("untilStep")
            }
            return steps(a, b, s)
        },
        "seq": { _, args, _ in
            let bounds = args.compactMap(NumberFunctions.int)
            guard bounds.count == args.count, (1...3).contains(bounds.count) else { return TemplateFunctions.arity("seq") }
            let (start, step, end): (Int, Int, Int) = switch bounds.count {
            case 1: (1, bounds[0] >= 1 ? 1 : -1, bounds[0])
            case 2: (bounds[0], bounds[1] >= bounds[0] ? 1 : -1, bounds[1])
            default: (bounds[0], bounds[1], bounds[2])
            }
            guard step != 0, (end - start).signum() == step.signum() || end == start else { return .text("") }
            let count = (end - start) / step + 1
            guard count <= TemplateEngine.maxIterations else { return .unknown("seq: too many numbers") }
            return .text((0..<count).map { String(start + $0 * step) }.joined(separator: " "))
        },
        "chunk": { _, args, _ in
            guard args.count == 2, let n = NumberFunctions.int(args[0]), n > 0, let l = list(args[1]) else { return TemplateFunctions.arity("chunk") }
            return .list(stride(from: 0, to: l.count, by: n).map { .list(Array(l[$0..<min($0 + n, l.count)])) })
        },
        "dict": { _, args, _ in
            var map: [String: TemplateValue] = [:]
            var i = 0
            while i < args.count {
                map[args[i].plain] = i + 1 < args.count ? args[i + 1] : .text("")
                i += 2
            }
            return .dict(map)
        },
        "get": { _, args, _ in
            guard args.count == 2, let m = args[0].mapValue else { return args.count == 2 && args[0].isNull ? .text("") : TemplateFunctions.arity("get") }
            return m[args[1].string] ?? .text("")
        },
        "set": { engine, args, _ in
            guard args.count == 3, let m = args[0].mapValue else { return TemplateFunctions.arity("set") }
            engine.state.willChange(m, args[1].string)
            m[args[1].string] = args[2]
            return args[0]
        },
        "unset": { engine, args, _ in
            guard args.count == 2, let m = args[0].mapValue else { return TemplateFunctions.arity("unset") }
            engine.state.willChange(m, args[1].string)
            m[args[1].string] = nil
            return args[0]
        },
        "hasKey": { _, args, _ in
            guard args.count == 2 else { return TemplateFunctions.arity("hasKey") }
            return .bool(args[0].mapValue?[args[1].string] != nil)
        },
        "pluck": { _, args, _ in
            guard let key = args.first?.string else { return TemplateFunctions.arity("pluck") }
            return .list(args.dropFirst().compactMap { $0.mapValue?[key] })
        },
        "dig": { _, args, _ in
            guard args.count >= 3, let m = args.last?.mapValue else { return TemplateFunctions.arity("dig") }
            var value = TemplateValue.map(m)
            for key in args.dropLast(2) {
                guard let next = value.mapValue?[key.string] else { return args[args.count - 2] }
                value = next
            }
            return value
        },
        "merge": { engine, args, _ in merge(engine, args, overwrite: false, "merge") },
        "mustMerge": { engine, args, _ in merge(engine, args, overwrite: false, "mustMerge") },
        "mergeOverwrite": { engine, args, _ in merge(engine, args, overwrite: true, "mergeOverwrite") },
        "mustMergeOverwrite": { engine, args, _ in merge(engine, args, overwrite: true, "mustMergeOverwrite") },
        "keys": { _, args, _ in
            var out: [TemplateValue] = []
            for a in args {
                guard let m = a.mapValue else { return TemplateFunctions.arity("keys") }
                out += m.sortedKeys.map { .text($0) }
            }
            return .list(out)
        },
        "values": { _, args, _ in
            guard args.count == 1, let m = args[0].mapValue else { return TemplateFunctions.arity("values") }
            return .list(m.sortedKeys.map { m[$0]! })
        },
        "pick": { _, args, _ in
            guard let m = args.first?.mapValue else { return TemplateFunctions.arity("pick") }
            let names = Set(args.dropFirst().map(\.string))
            return .dict(m.entries.filter { names.contains($0.key) })
        },
        "omit": { _, args, _ in
            guard let m = args.first?.mapValue else { return TemplateFunctions.arity("omit") }
            let names = Set(args.dropFirst().map(\.string))
            return .dict(m.entries.filter { !names.contains($0.key) })
        },
        "deepCopy": { _, args, _ in args.count == 1 ? args[0].deepCopy() : TemplateFunctions.arity("deepCopy") },
        "mustDeepCopy": { _, args, _ in args.count == 1 ? args[0].deepCopy() : TemplateFunctions.arity("mustDeepCopy") },
    ]

    static func list(_ value: TemplateValue) -> [TemplateValue]? {
        switch value {
        case .list(let l): l
        case .null: []
        default: nil
        }
    }

    static func listFunction(_ args: [TemplateValue], _ name: String, _ f: ([TemplateValue]) -> TemplateValue) -> TemplateValue {
        guard args.count == 1, let l = list(args[0]) else { return TemplateFunctions.arity(name) }
        return f(l)
    }

    static func appended(_ args: [TemplateValue], _ name: String) -> TemplateValue {
        guard args.count == 2, let l = list(args[0]) else { return TemplateFunctions.arity(name) }
        return .list(l + [args[1]])
    }

    static func steps(_ start: Int, _ end: Int, _ step: Int) -> TemplateValue {
        guard step != 0 else { return .list([]) }
        let values = Array(stride(from: start, to: end, by: step).prefix(TemplateEngine.maxIterations + 1))
        guard values.count <= TemplateEngine.maxIterations else { return .unknown("too many numbers") }
        return .list(values.map { .int($0, nil) })
    }

    /// sprig's `merge` (mergo): `dst` changed in place and returned. Without `overwrite` a key of a
    /// source fills a key `dst` lacks or holds empty; with it, sources win. Maps in both merge
    /// key by key either way.
    static func merge(_ engine: TemplateEngine, _ args: [TemplateValue], overwrite: Bool, _ name: String) -> TemplateValue {
        guard let dst = args.first?.mapValue else { return TemplateFunctions.arity(name) }
        for source in args.dropFirst() {
            guard let src = source.mapValue else {
                if source.isNull { continue }
                return TemplateFunctions.arity(name)
            }
            merge(engine, into: dst, from: src, overwrite: overwrite)
        }
        return args[0]
    }

    private static func merge(_ engine: TemplateEngine, into dst: TemplateMap, from src: TemplateMap, overwrite: Bool) {
        for key in src.sortedKeys {
            let value = src[key]!
            let existing = dst[key]
            if let d = existing?.mapValue, let s = value.mapValue {
                if d !== s { merge(engine, into: d, from: s, overwrite: overwrite) }
                continue
            }
            let fill = existing == nil || existing?.truth == false
            if fill || overwrite {
                // An empty list from a source never replaces a list that has items.
                if !fill, case .list(let l) = value, l.isEmpty { continue }
                engine.state.willChange(dst, key)
                dst[key] = value
            }
        }
    }
}
