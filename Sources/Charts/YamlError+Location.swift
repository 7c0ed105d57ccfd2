import Yams

extension YamlError {
    /// The line a parse error points at, for messages of the form `file:line: problem`.
    public var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    /// What the parser says is wrong, without its own rendering of the context.
    public var problem: String {
        switch self {
        case .scanner(_, let p, _, _), .parser(_, let p, _, _), .composer(_, let p, _, _): p
        default: String(describing: self)
        }
    }
}
