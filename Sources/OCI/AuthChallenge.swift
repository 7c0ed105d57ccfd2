/// A parsed `WWW-Authenticate` challenge, e.g. `Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"`.
public struct AuthChallenge: Equatable, Sendable {
    public var scheme: String
    /// Parameter names lowercased.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    public var isBearer: Bool { scheme.lowercased() == "bearer" }
    public var isBasic: Bool { scheme.lowercased() == "basic" }

    /// Parses the first challenge in the header. Unquoted and quoted values are accepted,
    /// with backslash escapes inside quotes. Returns nil for an empty or scheme-less header.
    public static func parse(_ header: String) -> AuthChallenge? {
        var chars = Substring(header)
        func skipSpaces() { while let c = chars.first, c == " " || c == "\t" { chars.removeFirst() } }
        skipSpaces()
        let scheme = chars.prefix { $0 != " " && $0 != "\t" && $0 != "," }
        guard !scheme.isEmpty, !scheme.contains("=") else { return nil }
        chars = chars.dropFirst(scheme.count)
        var parameters: [String: String] = [:]
        var guardCount = 0
        while !chars.isEmpty, guardCount < 64 {
            guardCount += 1
            skipSpaces()
            while chars.first == "," { chars.removeFirst(); skipSpaces() }
            let name = chars.prefix { $0 != "=" && $0 != "," && $0 != " " }
            guard !name.isEmpty else { break }
            chars = chars.dropFirst(name.count)
            skipSpaces()
            guard chars.first == "=" else {
                // A second challenge starts (scheme without "="): stop at the first one.
                break
            }
            chars.removeFirst()
            skipSpaces()
            var value = ""
            if chars.first == "\"" {
                chars.removeFirst()
                var closed = false
                while let c = chars.first {
                    chars.removeFirst()
                    if c == "\\", let next = chars.first { value.append(next); chars.removeFirst(); continue }
                    if c == "\"" { closed = true; break }
                    value.append(c)
                }
                if !closed { return nil }
            } else {
                let token = chars.prefix { $0 != "," && $0 != " " }
                value = String(token)
                chars = chars.dropFirst(token.count)
            }
            parameters[name.lowercased()] = value
        }
        return AuthChallenge(scheme: String(scheme), parameters: parameters)
    }

    /// Renders a Bearer challenge for our own 401s.
    public static func bearer(realm: String, service: String, scope: String?) -> String {
        var s = "Bearer realm=\(JSONString.quote(realm)),service=\(JSONString.quote(service))"
        if let scope { s += ",scope=\(JSONString.quote(scope))" }
        return s
    }
}

/// One `repository:<name>:<actions>` scope from a token request or challenge.
public struct RepositoryScope: Equatable, Sendable, CustomStringConvertible {
    public var name: String
    public var actions: [String]

    public init(name: String, actions: [String]) {
        self.name = name
        self.actions = actions
    }

    public var description: String { "repository:\(name):\(actions.joined(separator: ","))" }

    /// One scope per repository, its actions each once, in the order first asked: a token is
    /// signed over what it grants, and a request repeating a scope a thousand times would
    /// otherwise get a thousand entries.
    public static func merged(_ scopes: [RepositoryScope]) -> [RepositoryScope] {
        var merged: [RepositoryScope] = []
        var index: [String: Int] = [:]
        for scope in scopes {
            if let at = index[scope.name] {
                for action in scope.actions where !merged[at].actions.contains(action) { merged[at].actions.append(action) }
            } else {
                index[scope.name] = merged.count
                var actions: [String] = []
                for action in scope.actions where !actions.contains(action) { actions.append(action) }
                merged.append(RepositoryScope(name: scope.name, actions: actions))
            }
        }
        return merged
    }

    /// Parses a space-separated scope string; scopes of other types are ignored. A `+` counts
    /// as a space: form-encoding clients send one for it, and neither names nor actions contain one.
    public static func parseAll(_ text: String) -> [RepositoryScope] {
        text.split(whereSeparator: { $0 == " " || $0 == "+" }).compactMap { item in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[0] == "repository" || parts[0] == "repository(plugin)" else { return nil }
            // The name may carry a port (host:port/repo) so the actions are the last part.
            let actions = parts[parts.count - 1].split(separator: ",").map(String.init)
            let name = parts[1..<(parts.count - 1)].joined(separator: ":")
            guard !name.isEmpty else { return nil }
            return RepositoryScope(name: name, actions: actions)
        }
    }
}

/// `Authorization: Basic …` credentials.
public struct BasicCredentials: Equatable, Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public static func parse(authorization: String) -> BasicCredentials? {
        guard authorization.count > 6, authorization.prefix(6).lowercased() == "basic " else { return nil }
        let encoded = authorization.dropFirst(6).trimmingSpaces
        guard let decoded = Base64.decode(encoded), let text = String(bytes: decoded, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return BasicCredentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    public var headerValue: String {
        "Basic " + Base64.encode(Array("\(username):\(password)".utf8))
    }
}
