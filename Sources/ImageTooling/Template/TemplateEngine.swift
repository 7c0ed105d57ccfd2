/// Renders parsed templates with the chart's values, keeping the origin of every character.
///
/// It renders what Helm would with the chart's own values, and in addition (with
/// `speculate`) renders the branches those values do not take, separately, so an image behind
/// `if .Values.metrics.enabled` is still found, in a template or in a helper it includes. What
/// it cannot evaluate (unknown functions, a `fail`) becomes a marked placeholder with the
/// reason, never a guess.
final class TemplateEngine {
    let defines: [String: [TemplateNode]]
    let state: RenderState
    private static let maxDepth = 64
    static let maxIterations = 10_000

    /// Renders of branches the values did not choose, collected while speculating.
    var speculative: [TracedText] { state.speculative }

    /// What one template's render may cost and what it collects, shared by an engine and those
    /// it starts for `tpl` so neither escapes through the other. Depth and loop limits alone do
    /// not bound the work: a template that includes itself twice doubles it per level, nested
    /// loops multiply, and each level of `include` copies what the levels below produced.
    final class RenderState {
        static let maxSteps = 50_000
        /// Characters produced, counted again wherever they are copied (an `include` passing them
        /// up, a function such as `quote` rewriting them).
        static let maxCharacters = 1_000_000

        var depth = 0
        var steps = 0
        var characters = 0
        /// Where the render stopped for want of budget.
        var stoppedAt: TemplateLocation?
        var speculative: [TracedText] = []
        /// Branches already rendered speculatively with the same dot: a helper included fifty
        /// times has its untaken branches read once per distinct argument, not fifty times.
        var speculated: Set<String> = []
        /// The maps those keys name by identity, held so no other map can take their address.
        var speculatedDots: [TemplateMap] = []
        /// Changes made to maps while speculating, undone when the branch ends, so an untaken
        /// branch's `set` never changes what the values' own render sees.
        var undo: [(map: TemplateMap, key: String, old: TemplateValue?)] = []
        var speculationDepth = 0
        /// Whether the function being called (`include`) renders its untaken branches too.
        var speculateCalls = false

        var isSpent: Bool { steps > Self.maxSteps || characters > Self.maxCharacters }

        /// Remembers a change to `map`, to be undone if it happens in a branch the values do not take.
        func willChange(_ map: TemplateMap, _ key: String) {
            if speculationDepth > 0 { undo.append((map, key, map[key])) }
        }
    }

    static let budgetSpent = "rendering stopped: the template renders more than \(RenderState.maxSteps) steps or \(RenderState.maxCharacters) characters"

    /// Where this render stopped for want of budget (what follows that point was not rendered).
    var stoppedAt: TemplateLocation? { state.stoppedAt }

    /// Stops the render once the budget is spent, saying so once, where it happened.
    private func exhaust(at: TemplateLocation, into out: inout TracedText) -> Flow {
        if state.stoppedAt == nil {
            state.stoppedAt = at
            out.append(.unknown(Self.budgetSpent, at: at))
        }
        return .exhausted
    }

    init(defines: [String: [TemplateNode]], state: RenderState = RenderState()) {
        self.defines = defines
        self.state = state
    }

    /// An engine for `tpl` text: its own defines, this engine's limits.
    func nested(defines more: [String: [TemplateNode]]) -> TemplateEngine {
        TemplateEngine(defines: more.isEmpty ? defines : defines.merging(more) { a, _ in a }, state: state)
    }

    struct Scope {
        var dot: TemplateValue
        var root: TemplateValue
        var frames: [[String: TemplateValue]] = [[:]]
        /// Whether branches the values do not take are rendered too (into the speculative renders).
        var speculate = false

        func variable(_ name: String) -> TemplateValue? {
            if name.isEmpty { return root }
            for frame in frames.reversed() { if let v = frame[name] { return v } }
            return nil
        }

        mutating func declare(_ name: String, _ value: TemplateValue) { frames[frames.count - 1][name] = value }

        mutating func assign(_ name: String, _ value: TemplateValue) {
            for i in frames.indices.reversed() where frames[i][name] != nil {
                frames[i][name] = value
                return
            }
            declare(name, value)
        }
    }

    /// `exhausted` unwinds every block and loop once the render budget is spent.
    enum Flow { case normal, breakLoop, continueLoop, exhausted }

    // MARK: Nodes

    @discardableResult
    func render(_ nodes: [TemplateNode], scope: inout Scope, into out: inout TracedText, speculate: Bool) -> Flow {
        let saved = scope.speculate
        scope.speculate = speculate
        defer { scope.speculate = saved }
        return render(nodes, scope: &scope, into: &out)
    }

    private func render(_ nodes: [TemplateNode], scope: inout Scope, into out: inout TracedText) -> Flow {
        for node in nodes {
            state.steps += 1
            if let at = node.location, state.isSpent { return exhaust(at: at, into: &out) }
            switch node {
            case .text(let text):
                out.append(text)
                state.characters += text.count
            case .action(let pipeline, let at):
                let value = evaluate(pipeline, scope: &scope, at: at)
                // A declaration prints nothing.
                guard pipeline.variables.isEmpty else { continue }
                let text = value.text ?? .unknown(value.unknownReason ?? "unknown value", at: at)
                out.append(text)
                state.characters += text.count
            case .ifBlock(let pipeline, let then, let otherwise, let at):
                let condition = evaluate(pipeline, scope: &scope, at: at)
                let flow = branch(condition.truth, then: then, else: otherwise, at: at, scope: &scope, into: &out)
                if flow != .normal { return flow }
            case .withBlock(let pipeline, let then, let otherwise, let at):
                let value = evaluate(pipeline, scope: &scope, at: at)
                switch value.truth {
                case true?:
                    let flow = block(then, dot: value, scope: &scope, into: &out)
                    if flow != .normal { return flow }
                    speculate(on: otherwise, at: at, dot: scope.dot, scope: scope)
                case false?:
                    let flow = block(otherwise, dot: scope.dot, scope: &scope, into: &out)
                    if flow != .normal { return flow }
                case nil:
                    speculate(on: otherwise, at: at, dot: scope.dot, scope: scope)
                }
            case .rangeBlock(let pipeline, let body, let otherwise, let at):
                let flow = range(pipeline, body: body, else: otherwise, at: at, scope: &scope, into: &out)
                if flow != .normal { return flow }
            case .call(let name, let pipeline, let at):
                let argument = pipeline.map { evaluate($0, scope: &scope, at: at) } ?? .null
                out.append(include(name, argument, at: at, speculate: scope.speculate))
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private func range(_ pipeline: TemplatePipeline, body: [TemplateNode], else otherwise: [TemplateNode], at: TemplateLocation,
                       scope: inout Scope, into out: inout TracedText) -> Flow {
        // The variables belong to the loop, not to the pipeline that names the collection.
        var collectionPipeline = pipeline
        collectionPipeline.variables = []
        let collection = evaluate(collectionPipeline, scope: &scope, at: at)
        var items: [(TemplateValue, TemplateValue)] = []
        switch collection {
        case .list(let list): items = list.enumerated().map { (.int($0, nil), $1) }
        case .map(let map): items = map.sortedKeys.map { (.string(.computed($0)), map[$0]!) }
        case .int(let n, _): items = (0..<max(0, min(n, Self.maxIterations))).map { (.int($0, nil), .int($0, nil)) }
        case .unknown, .null, .string, .bool, .float: items = []
        }
        if items.isEmpty { return block(otherwise, dot: scope.dot, scope: &scope, into: &out) }
        for (key, element) in items.prefix(Self.maxIterations) {
            scope.frames.append([:])
            switch pipeline.variables.count {
            case 0: break
            case 1: scope.declare(pipeline.variables[0], element)
            default:
                scope.declare(pipeline.variables[0], key)
                scope.declare(pipeline.variables[1], element)
            }
            let saved = scope.dot
            scope.dot = element
            let flow = render(body, scope: &scope, into: &out)
            scope.dot = saved
            scope.frames.removeLast()
            if flow == .breakLoop { break }
            if flow == .exhausted || state.isSpent { return exhaust(at: at, into: &out) }
        }
        return .normal
    }

    private func branch(_ truth: Bool?, then: [TemplateNode], else otherwise: [TemplateNode], at: TemplateLocation, scope: inout Scope,
                        into out: inout TracedText) -> Flow {
        let dot = scope.dot
        switch truth {
        case true?:
            let flow = block(then, dot: dot, scope: &scope, into: &out)
            speculate(on: otherwise, at: at, dot: dot, scope: scope)
            return flow
        case false?:
            let flow = block(otherwise, dot: dot, scope: &scope, into: &out)
            speculate(on: then, at: at, dot: dot, scope: scope)
            return flow
        case nil:
            speculate(on: then, at: at, dot: dot, scope: scope)
            speculate(on: otherwise, at: at, dot: dot, scope: scope)
            return .normal
        }
    }

    private func block(_ nodes: [TemplateNode], dot: TemplateValue, scope: inout Scope, into out: inout TracedText) -> Flow {
        guard !nodes.isEmpty else { return .normal }
        let saved = scope.dot
        scope.dot = dot
        scope.frames.append([:])
        let flow = render(nodes, scope: &scope, into: &out)
        scope.frames.removeLast()
        scope.dot = saved
        return flow
    }

    /// Renders a branch the values do not take, on the side; whatever it changes in maps is undone.
    private func speculate(on nodes: [TemplateNode], at: TemplateLocation, dot: TemplateValue, scope: Scope) {
        guard scope.speculate, !nodes.isEmpty, !state.isSpent else { return }
        guard state.speculated.insert("\(at) \(nodes.first?.location.map(\.description) ?? "") \(Self.identity(dot))").inserted else { return }
        if case .map(let m) = dot { state.speculatedDots.append(m) }
        var copy = scope
        var out = TracedText()
        let mark = state.undo.count
        state.speculationDepth += 1
        _ = block(nodes, dot: dot, scope: &copy, into: &out)
        state.speculationDepth -= 1
        while state.undo.count > mark {
            let change = state.undo.removeLast()
            change.map[change.key] = change.old
        }
        state.speculative.append(out)
    }

    /// Tells arguments apart cheaply: maps by identity, anything else by its text.
    private static func identity(_ value: TemplateValue) -> String {
        switch value {
        case .map(let m): "map \(ObjectIdentifier(m).hashValue)"  // kept alive by `speculatedDots`, so never reused
        case .list(let l): "list \(l.count) \(l.first.map(identity) ?? "")"
        default: String(value.plain.prefix(200))
        }
    }

    /// `include` / `template`: a named template rendered with `argument` as its dot.
    func include(_ name: String, _ argument: TemplateValue, at: TemplateLocation, speculate: Bool) -> TracedText {
        guard let body = defines[name] else { return .unknown("no template named \(name.debugDescription)", at: at) }
        guard state.depth < Self.maxDepth else { return .unknown("templates nest too deeply", at: at) }
        state.depth += 1
        defer { state.depth -= 1 }
        var scope = Scope(dot: argument, root: argument)
        var out = TracedText()
        render(body, scope: &scope, into: &out, speculate: speculate)
        state.characters += out.count
        // A render past the budget hands up a marker, not text that would only be copied again.
        return state.isSpent ? .unknown(Self.budgetSpent, at: state.stoppedAt ?? at) : out
    }

    // MARK: Pipelines

    func evaluate(_ pipeline: TemplatePipeline, scope: inout Scope, at: TemplateLocation) -> TemplateValue {
        var value: TemplateValue?
        for command in pipeline.commands {
            value = evaluate(command, piped: value, scope: &scope, at: at)
        }
        let result = value ?? .null
        for name in pipeline.variables.prefix(1) {
            if pipeline.assigns { scope.assign(name, result) } else { scope.declare(name, result) }
        }
        return result
    }

    private func evaluate(_ command: [TemplateOperand], piped: TemplateValue?, scope: inout Scope, at: TemplateLocation) -> TemplateValue {
        guard let head = command.first else { return .null }
        if case .function(let name) = head {
            // Go evaluates `and` and `or` lazily: `and .a (index .a 0)` never touches a missing `.a`.
            if name == "and" || name == "or" {
                return logical(name == "and", command.dropFirst(), piped: piped, scope: &scope, at: at)
            }
            var args = command.dropFirst().map { operand($0, scope: &scope, at: at) }
            if let piped { args.append(piped) }
            let result = call(name, args, scope: scope, at: at)
            // Functions copy text (`quote`, `indent`, `printf`): what they produce is spent too.
            if case .string(let text) = result { state.characters += text.count }
            return result
        }
        guard command.count > 1 || piped != nil else { return operand(head, scope: &scope, at: at) }
        // `.Capabilities.APIVersions.Has "apps/v1"`: the last name of a path that takes arguments is a method.
        let receiver: TemplateValue, method: String
        switch head {
        case .field(let path) where !path.isEmpty:
            receiver = scope.dot.path(Array(path.dropLast()))
            method = path.last!
        case .variable(let name, let path) where !path.isEmpty:
            guard let value = scope.variable(name) else { return .unknown("undefined variable $\(name)") }
            receiver = value.path(Array(path.dropLast()))
            method = path.last!
        default:
            return .unknown("a value cannot take arguments")
        }
        var args = command.dropFirst().map { operand($0, scope: &scope, at: at) }
        if let piped { args.append(piped) }
        return callMethod(method, on: receiver, args)
    }

    private func logical(_ isAnd: Bool, _ operands: ArraySlice<TemplateOperand>, piped: TemplateValue?, scope: inout Scope,
                         at: TemplateLocation) -> TemplateValue {
        var last = TemplateValue.null
        for op in operands {
            last = operand(op, scope: &scope, at: at)
            guard let truth = last.truth else { return last }
            if truth != isAnd { return last }
        }
        if let piped { last = piped }
        return last
    }

    private func operand(_ op: TemplateOperand, scope: inout Scope, at: TemplateLocation) -> TemplateValue {
        switch op {
        case .field(let path): return scope.dot.path(path)
        case .variable(let name, let path):
            guard let value = scope.variable(name) else { return .unknown("undefined variable $\(name)") }
            return value.path(path)
        case .string(let s): return .string(TracedText(s, origin: TextOrigin(kind: .template, file: at.file, line: at.line, column: at.column, text: s)))
        case .number(let n): return Self.number(n)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .function(let name):
            if name == "and" || name == "or" { return .null }
            return call(name, [], scope: scope, at: at)
        case .pipeline(let pipeline): return evaluate(pipeline, scope: &scope, at: at)
        case .access(let base, let path): return operand(base, scope: &scope, at: at).path(path)
        }
    }

    /// A number constant as Go's text/template reads it: an int when it is one, else a float.
    static func number(_ n: String) -> TemplateValue {
        if let i = Int(n) { return .int(i, nil) }
        let lower = n.lowercased()
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) || lower.hasPrefix("-" + prefix) {
            let negative = lower.hasPrefix("-")
            if let i = Int(lower.dropFirst(prefix.count + (negative ? 1 : 0)), radix: radix) { return .int(negative ? -i : i, nil) }
        }
        return Double(n).map { .float($0, nil) } ?? .unknown("number \(n)")
    }
}
