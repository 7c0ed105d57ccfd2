import Foundation

/// sprig's arithmetic, conversions and type tests. Integer arithmetic is int64 (sprig converts
/// its operands, so `add 1 2.5` is 3), the `f` variants float64.
enum NumberFunctions {
    static let all: [String: TemplateFunction] = [
        "int": { _, args, _ in convert(args, "int") { .int(int(lenient: $0), nil) } },
        "int64": { _, args, _ in convert(args, "int64") { .int(int(lenient: $0), nil) } },
        "atoi": { _, args, _ in convert(args, "atoi") { .int(Int($0.string) ?? 0, nil) } },
        "float64": { _, args, _ in convert(args, "float64") { .float(double($0) ?? 0, nil) } },
        "toDecimal": { _, args, _ in convert(args, "toDecimal") { .int(Int($0.string, radix: 8) ?? 0, nil) } },
        "add": { _, args, _ in integers(args, "add", minimum: 0) { .int($0.reduce(0, &+), nil) } },
        "add1": { _, args, _ in integers(args, "add1", minimum: 1) { .int($0[0] &+ 1, nil) } },
        "sub": { _, args, _ in integers(args, "sub", minimum: 2) { .int($0[0] &- $0[1], nil) } },
        "mul": { _, args, _ in integers(args, "mul", minimum: 1) { .int($0.reduce(1, &*), nil) } },
        "div": { _, args, _ in integers(args, "div", minimum: 2) { $0[1] == 0 ? .unknown("division by zero") : .int($0[0] / $0[1], nil) } },
        "mod": { _, args, _ in integers(args, "mod", minimum: 2) { $0[1] == 0 ? .unknown("division by zero") : .int($0[0] % $0[1], nil) } },
        "max": { _, args, _ in integers(args, "max", minimum: 1) { .int($0.max()!, nil) } },
        "biggest": { _, args, _ in integers(args, "biggest", minimum: 1) { .int($0.max()!, nil) } },
        "min": { _, args, _ in integers(args, "min", minimum: 1) { .int($0.min()!, nil) } },
        "addf": { _, args, _ in floats(args, "addf", minimum: 0) { .float($0.reduce(0, +), nil) } },
        "add1f": { _, args, _ in floats(args, "add1f", minimum: 1) { .float($0[0] + 1, nil) } },
        "subf": { _, args, _ in floats(args, "subf", minimum: 1) { .float($0.dropFirst().reduce($0[0], -), nil) } },
        "mulf": { _, args, _ in floats(args, "mulf", minimum: 1) { .float($0.reduce(1, *), nil) } },
        "divf": { _, args, _ in floats(args, "divf", minimum: 1) { .float($0.dropFirst().reduce($0[0], /), nil) } },
        "maxf": { _, args, _ in floats(args, "maxf", minimum: 1) { .float($0.max()!, nil) } },
        "minf": { _, args, _ in floats(args, "minf", minimum: 1) { .float($0.min()!, nil) } },
        "floor": { _, args, _ in floats(args, "floor", minimum: 1) { .float($0[0].rounded(.down), nil) } },
        "ceil": { _, args, _ in floats(args, "ceil", minimum: 1) { .float($0[0].rounded(.up), nil) } },
        "round": { _, args, _ in
            floats(args, "round", minimum: 2) { v in
                let scale = pow(10, v[1].rounded(.towardZero))
                return .float((v[0] * scale).rounded(.toNearestOrAwayFromZero) / scale, nil)
            }
        },
        "typeOf": { _, args, _ in args.count == 1 ? .text(typeName(args[0])) : TemplateFunctions.arity("typeOf") },
        "kindOf": { _, args, _ in args.count == 1 ? .text(kindName(args[0])) : TemplateFunctions.arity("kindOf") },
        "typeIs": { _, args, _ in
            guard args.count == 2 else { return TemplateFunctions.arity("typeIs") }
            return .bool(args[0].string == typeName(args[1]))
        },
        "typeIsLike": { _, args, _ in
            guard args.count == 2 else { return TemplateFunctions.arity("typeIsLike") }
            let name = typeName(args[1])
            return .bool(args[0].string == name || args[0].string == "*" + name)
        },
        "kindIs": { _, args, _ in
            guard args.count == 2 else { return TemplateFunctions.arity("kindIs") }
            return .bool(args[0].string == kindName(args[1]))
        },
        "deepEqual": { _, args, _ in args.count == 2 ? .bool(TemplateFunctions.same(args[0], args[1])) : TemplateFunctions.arity("deepEqual") },
    ]

    static func convert(_ args: [TemplateValue], _ name: String, _ f: (TemplateValue) -> TemplateValue) -> TemplateValue {
        guard args.count == 1 else { return TemplateFunctions.arity(name) }
        return f(args[0])
    }

    static func integers(_ args: [TemplateValue], _ name: String, minimum: Int, _ f: ([Int]) -> TemplateValue) -> TemplateValue {
        guard args.count >= minimum else { return TemplateFunctions.arity(name) }
        return f(args.map { int(lenient: $0) })
    }

    static func floats(_ args: [TemplateValue], _ name: String, minimum: Int, _ f: ([Double]) -> TemplateValue) -> TemplateValue {
        guard args.count >= minimum else { return TemplateFunctions.arity(name) }
        return f(args.map { double($0) ?? 0 })
    }

    /// A number for a function that needs one (an index, a width), or nil for anything else.
    static func int(_ value: TemplateValue) -> Int? {
        switch value {
        case .int(let i, _): i
        case .float(let d, _): d.isFinite && abs(d) < 9.2e18 ? Int(d.rounded(.towardZero)) : nil
        case .string(let t): Int(t.string)
        default: nil
        }
    }

    /// sprig's `toInt64` (spf13/cast): text in Go's base prefixes, floats truncated, anything
    /// that is no number 0.
    static func int(lenient value: TemplateValue) -> Int {
        switch value {
        case .int(let i, _): return i
        case .float(let d, _): return d.isFinite && abs(d) < 9.2e18 ? Int(d.rounded(.towardZero)) : 0
        case .bool(let b): return b ? 1 : 0
        case .string(let t):
            let s = t.string.trimmingCharacters(in: .whitespaces)
            if case .int(let i, _) = TemplateEngine.number(s) { return i }
            return 0
        default: return 0
        }
    }

    static func double(_ value: TemplateValue) -> Double? {
        switch value {
        case .int(let i, _): Double(i)
        case .float(let d, _): d
        case .string(let t): Double(t.string.trimmingCharacters(in: .whitespaces))
        case .bool(let b): b ? 1 : 0
        case .null: 0
        default: nil
        }
    }

    /// Go's `%T`.
    static func typeName(_ value: TemplateValue) -> String {
        switch value {
        case .unknown: "unknown"
        default: GoFormat.goType(value)
        }
    }

    /// `reflect.Kind`'s name.
    static func kindName(_ value: TemplateValue) -> String {
        switch value {
        case .string: "string"
        case .bool: "bool"
        case .int: "int"
        case .float: "float64"
        case .map: "map"
        case .list: "slice"
        case .null: "invalid"
        case .unknown: "unknown"
        }
    }
}
