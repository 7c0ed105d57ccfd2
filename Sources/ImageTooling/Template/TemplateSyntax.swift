// What TemplateParser produces and TemplateEngine renders.

/// A place in a template file (or the values file a character came from).
public struct TemplateLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public var description: String { "\(file):\(line)" }
}

indirect enum TemplateNode: Sendable {
    case text(TracedText)
    case action(TemplatePipeline, TemplateLocation)
    case ifBlock(TemplatePipeline, then: [TemplateNode], else: [TemplateNode], TemplateLocation)
    case withBlock(TemplatePipeline, then: [TemplateNode], else: [TemplateNode], TemplateLocation)
    case rangeBlock(TemplatePipeline, body: [TemplateNode], else: [TemplateNode], TemplateLocation)
    case call(name: String, TemplatePipeline?, TemplateLocation)
    case breakLoop, continueLoop

    var location: TemplateLocation? {
        switch self {
        case .action(_, let at), .ifBlock(_, _, _, let at), .withBlock(_, _, _, let at), .rangeBlock(_, _, _, let at), .call(_, _, let at): at
        case .text, .breakLoop, .continueLoop: nil
        }
    }
}

struct TemplatePipeline: Sendable {
    /// `$x :=` or `$i, $v :=`; empty when the pipeline declares nothing.
    var variables: [String] = []
    /// `=` rather than `:=`.
    var assigns = false
    var commands: [[TemplateOperand]]
}

indirect enum TemplateOperand: Sendable {
    /// `.a.b` (empty path: `.` itself).
    case field([String])
    /// `$x.a.b`; `$` alone is the root.
    case variable(String, [String])
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case function(String)
    case pipeline(TemplatePipeline)
    /// `(pipeline).a.b`
    case access(TemplateOperand, [String])
}

/// A parsed template file: its top-level nodes and the named templates it defines.
struct ParsedTemplate: Sendable {
    var nodes: [TemplateNode]
    var defines: [String: [TemplateNode]]
}

public struct TemplateSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var location: TemplateLocation
    public var message: String
    public var description: String { "\(location): template syntax: \(message)" }
}
