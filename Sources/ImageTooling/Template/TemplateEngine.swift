/// Renders parsed templates with the chart's values, keeping the origin of every character.
///
/// It renders what Helm would with the chart's own values, and in addition (with
/// `speculate`) renders the branches those values do not take, separately, so an image behind
/// `if .Values.metrics.enabled` is still found. What it cannot evaluate (`lookup`, cluster
/// capabilities, unknown functions) becomes a marked placeholder with the reason, never a guess.
final class TemplateEngine {
    let defines: [String: [TemplateNode]]
    /// Renders of branches the values did not choose, collected while speculating.
    private(set) var speculative: [TracedText] = []
    private let budget: Budget
    private static let maxDepth = 64
    private static let maxIterations = 10_000

    /// What one template's render may cost, shared by an engine and those it starts for `tpl` so
    /// neither escapes through the other. Depth and loop limits alone do not bound the work: a
    /// template that includes itself twice doubles it per level, nested loops multiply, and each
    /// level of `include` copies what the levels below produced.
    final class Budget {
        static let maxSteps = 50_000
        /// Characters produced, counted again wherever they are copied (an `include` passing them
        /// up, a function such as `quote` rewriting them).
        static let maxCharacters = 1_000_000

        var depth = 0
        var steps = 0
        var characters = 0
        /// Where the render stopped for want of budget.
        var stoppedAt: TemplateLocation?

        var isSpent: Bool { steps > Self.maxSteps || characters > Self.maxCharacters }
    }

    static let budgetSpent = "rendering stopped: the template renders more than \(Budget.maxSteps) steps or \(Budget.maxCharacters) characters"

    /// Where this render stopped for want of budget (what follows that point was not rendered).
    var stoppedAt: TemplateLocation? { budget.stoppedAt }

    /// Stops the render once the budget is spent, saying so once, where it happened.
    private func exhaust(at: TemplateLocation, into out: inout TracedText) -> Flow {
        if budget.stoppedAt == nil {
            budget.stoppedAt = at
            out.append(.unknown(Self.budgetSpent, at: at))
        }
        return .exhausted
    }

    init(defines: [String: [TemplateNode]], budget: Budget = Budget()) {
        self.defines = defines
        self.budget = budget
    }

    /// An engine for `tpl` text: its own defines, this engine's limits.
    func nested(defines more: [String: [TemplateNode]]) -> TemplateEngine {
        TemplateEngine(defines: defines.merging(more) { a, _ in a }, budget: budget)
    }

    struct Scope {
        var dot: TemplateValue
        var root: TemplateValue
        var frames: [[String: TemplateValue]] = [[:]]

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
        for node in nodes {
            budget.steps += 1
            if let at = node.location, budget.isSpent { return exhaust(at: at, into: &out) }
            switch node {
            case .text(let text):
                out.append(text)
                budget.characters += text.count
            case .action(let pipeline, let at):
                let value = evaluate(pipeline, scope: &scope, at: at)
                // A declaration prints nothing.
                guard pipeline.variables.isEmpty else { continue }
                let text = value.text ?? .unknown(value.unknownReason ?? "unknown value", at: at)
                out.append(text)
                budget.characters += text.count
            case .ifBlock(let pipeline, let then, let otherwise, let at):
                let condition = evaluate(pipeline, scope: &scope, at: at)
                let flow = branch(condition.truth, then: then, else: otherwise, dot: scope.dot, scope: &scope, into: &out, speculate: speculate)
                if flow != .normal { return flow }
            case .withBlock(let pipeline, let then, let otherwise, let at):
                let value = evaluate(pipeline, scope: &scope, at: at)
                switch value.truth {
                case true?:
                    let flow = block(then, dot: value, scope: &scope, into: &out, speculate: speculate)
                    if flow != .normal { return flow }
                    if speculate { speculateOn(otherwise, dot: scope.dot, scope: scope) }
                case false?:
                    let flow = block(otherwise, dot: scope.dot, scope: &scope, into: &out, speculate: speculate)
                    if flow != .normal { return flow }
                case nil:
                    if speculate { speculateOn(otherwise, dot: scope.dot, scope: scope) }
                }
            case .rangeBlock(let pipeline, let body, let otherwise, let at):
                let collection = evaluate(pipeline, scope: &scope, at: at)
                var items: [(TemplateValue, TemplateValue)] = []
                switch collection {
                case .list(let list): items = list.enumerated().map { (.int($0, nil), $1) }
                case .map(let map): items = map.keys.sorted().map { (.string(.computed($0)), map[$0]!) }
                case .int(let n, _): items = (0..<max(0, min(n, Self.maxIterations))).map { (.int($0, nil), .int($0, nil)) }
                case .unknown, .null, .string, .bool, .float: items = []
                }
                if items.isEmpty {
                    let flow = block(otherwise, dot: scope.dot, scope: &scope, into: &out, speculate: speculate)
                    if flow != .normal { return flow }
                    continue
                }
                loop: for (key, element) in items.prefix(Self.maxIterations) {
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
                    let flow = render(body, scope: &scope, into: &out, speculate: speculate)
                    scope.dot = saved
                    scope.frames.removeLast()
                    if flow == .breakLoop { break loop }
                    if flow == .exhausted || budget.isSpent { return exhaust(at: at, into: &out) }
                }
            case .call(let name, let pipeline, let at):
                let argument = pipeline.map { evaluate($0, scope: &scope, at: at) } ?? .null
                out.append(include(name, argument, at: at))
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private func branch(_ truth: Bool?, then: [TemplateNode], else otherwise: [TemplateNode], dot: TemplateValue, scope: inout Scope,
                        into out: inout TracedText, speculate: Bool) -> Flow {
        switch truth {
        case true?:
            let flow = block(then, dot: dot, scope: &scope, into: &out, speculate: speculate)
            if speculate { speculateOn(otherwise, dot: dot, scope: scope) }
            return flow
        case false?:
            let flow = block(otherwise, dot: dot, scope: &scope, into: &out, speculate: speculate)
            if speculate { speculateOn(then, dot: dot, scope: scope) }
            return flow
        case nil:
            if speculate {
                speculateOn(then, dot: dot, scope: scope)
                speculateOn(otherwise, dot: dot, scope: scope)
            }
            return .normal
        }
    }

    @discardableResult
    private func block(_ nodes: [TemplateNode], dot: TemplateValue, scope: inout Scope, into out: inout TracedText, speculate: Bool) -> Flow {
        guard !nodes.isEmpty else { return .normal }
        let saved = scope.dot
        scope.dot = dot
        scope.frames.append([:])
        let flow = render(nodes, scope: &scope, into: &out, speculate: speculate)
        scope.frames.removeLast()
        scope.dot = saved
        return flow
    }

    private func speculateOn(_ nodes: [TemplateNode], dot: TemplateValue, scope: Scope) {
        guard !nodes.isEmpty else { return }
        var copy = scope
        var out = TracedText()
        block(nodes, dot: dot, scope: &copy, into: &out, speculate: true)
        speculative.append(out)
    }

    /// `include` / `template`: a named template rendered with `argument` as its dot.
    func include(_ name: String, _ argument: TemplateValue, at: TemplateLocation) -> TracedText {
        guard let body = defines[name] else { return .unknown("no template named \(name.debugDescription)", at: at) }
        guard budget.depth < Self.maxDepth else { return .unknown("templates nest too deeply", at: at) }
        budget.depth += 1
        defer { budget.depth -= 1 }
        var scope = Scope(dot: argument, root: argument)
        var out = TracedText()
        render(body, scope: &scope, into: &out, speculate: false)
        budget.characters += out.count
        return out
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
            var args = command.dropFirst().map { operand($0, scope: &scope, at: at) }
            if let piped { args.append(piped) }
            let result = call(name, args, scope: scope, at: at)
            // Functions copy text (`quote`, `indent`, `printf`): what they produce is spent too.
            if case .string(let text) = result { budget.characters += text.count }
            return result
        }
        guard command.count == 1, piped == nil else {
            return .unknown("a value cannot take arguments")
        }
        return operand(head, scope: &scope, at: at)
    }

    private func operand(_ op: TemplateOperand, scope: inout Scope, at: TemplateLocation) -> TemplateValue {
        switch op {
        case .field(let path): return scope.dot.path(path)
        case .variable(let name, let path):
            guard let value = scope.variable(name) else { return .unknown("undefined variable $\(name)") }
            return value.path(path)
        case .string(let s): return .string(TracedText(s, origin: TextOrigin(kind: .template, file: at.file, line: at.line, column: at.column, text: s)))
        case .number(let n):
            if let i = Int(n) { return .int(i, nil) }
            return Double(n).map { .float($0, nil) } ?? .unknown("number \(n)")
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .function(let name): return call(name, [], scope: scope, at: at)
        case .pipeline(let pipeline): return evaluate(pipeline, scope: &scope, at: at)
        case .access(let base, let path): return operand(base, scope: &scope, at: at).path(path)
        }
    }
}
