/// A pattern over repository names, as in `--allow 'org/*'`: `*` matches within one path
/// component, a component that is exactly `**` matches any number of components (none too).
/// `org/*` matches `org/api` but not `org/team/api`; `org/**` matches both.
public struct RepositoryPattern: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    private let components: [Substring]

    public init(parsing text: String) throws(RepositoryPatternError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-/*")
        guard !text.isEmpty, text.count <= 255, text.allSatisfy({ allowed.contains($0) }) else {
            throw RepositoryPatternError(text: text, reason: "use lowercase letters, digits, . _ - / and the wildcards * and **")
        }
        let components = text.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.contains(where: \.isEmpty) else {
            throw RepositoryPatternError(text: text, reason: "no empty path components (a leading, trailing or doubled /)")
        }
        guard !components.contains(where: { $0.contains("**") && $0 != "**" }) else {
            throw RepositoryPatternError(text: text, reason: "** stands alone between slashes")
        }
        self.description = text
        self.components = components
    }

    public func matches(_ repository: String) -> Bool {
        Self.match(components[...], repository.split(separator: "/", omittingEmptySubsequences: false)[...])
    }

    private static func match(_ pattern: ArraySlice<Substring>, _ name: ArraySlice<Substring>) -> Bool {
        guard let head = pattern.first else { return name.isEmpty }
        if head == "**" {
            // Zero components, or one more and try again.
            return match(pattern.dropFirst(), name) || (!name.isEmpty && match(pattern, name.dropFirst()))
        }
        guard let component = name.first, matchComponent(Array(head), Array(component)) else { return false }
        return match(pattern.dropFirst(), name.dropFirst())
    }

    /// Glob within one component: `*` is any run of characters.
    private static func matchComponent(_ pattern: [Character], _ text: [Character]) -> Bool {
        var p = 0, t = 0, star = -1, resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] != "*", pattern[p] == text[t] {
                p += 1; t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p; resume = t; p += 1
            } else if star >= 0 {
                p = star + 1; resume += 1; t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

public struct RepositoryPatternError: Error, Equatable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "invalid repository pattern \(text.debugDescription): \(reason)" }
}
