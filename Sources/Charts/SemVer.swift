import Foundation

/// Semantic Versioning 2.0.0: `MAJOR.MINOR.PATCH[-prerelease][+build]`, no leading zeros.
public enum SemVer {
    public static func isValid(_ text: String) -> Bool {
        var core = Substring(text)
        var build: Substring?
        var pre: Substring?
        if let plus = core.firstIndex(of: "+") {
            build = core[core.index(after: plus)...]
            core = core[..<plus]
        }
        if let dash = core.firstIndex(of: "-") {
            pre = core[core.index(after: dash)...]
            core = core[..<dash]
        }
        let numbers = core.split(separator: ".", omittingEmptySubsequences: false)
        guard numbers.count == 3, numbers.allSatisfy(isNumeric) else { return false }
        if let pre, !identifiers(pre, numericLeadingZeroAllowed: false) { return false }
        if let build, !identifiers(build, numericLeadingZeroAllowed: true) { return false }
        return true
    }

    /// A chart's version as Helm packages and serves it: SemVer, or SemVer after a leading `v`
    /// (cert-manager's charts are `v1.21.1`; Helm's own metadata check accepts it, its lint warns).
    public static func isValidChartVersion(_ text: String) -> Bool {
        isValid(text) || (text.hasPrefix("v") && isValid(String(text.dropFirst())))
    }

    static func isNumeric(_ s: Substring) -> Bool {
        !s.isEmpty && s.allSatisfy(\.isASCIIDigit) && (s == "0" || s.first != "0")
    }

    static func identifiers(_ s: Substring, numericLeadingZeroAllowed: Bool) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.allSatisfy { p in
            guard !p.isEmpty, p.allSatisfy({ $0.isASCIIDigit || ($0.isASCII && $0.isLetter) || $0 == "-" }) else { return false }
            if !numericLeadingZeroAllowed, p.allSatisfy(\.isASCIIDigit) { return isNumeric(p) }
            return true
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension SemVer {
    /// A version as Helm's semver library reads it: lenient (`v1.2`, `1`), so a chart's
    /// `semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version` reads as Helm reads it.
    public struct Version: Comparable, Sendable, CustomStringConvertible {
        public var major: Int
        public var minor: Int
        public var patch: Int
        public var prerelease: [String]
        public var metadata: String

        public var description: String {
            "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: ".")) + (metadata.isEmpty ? "" : "+" + metadata)
        }

        public init?(_ text: String) {
            var rest = Substring(text.trimmingCharacters(in: .whitespaces))
            if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
            var metadata: Substring = ""
            if let plus = rest.firstIndex(of: "+") {
                metadata = rest[rest.index(after: plus)...]
                rest = rest[..<plus]
            }
            var pre: Substring?
            if let dash = rest.firstIndex(of: "-") {
                pre = rest[rest.index(after: dash)...]
                rest = rest[..<dash]
            }
            let numbers = rest.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...3).contains(numbers.count), numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) && $0.count < 18 }) else { return nil }
            major = Int(numbers[0])!
            minor = numbers.count > 1 ? Int(numbers[1])! : 0
            patch = numbers.count > 2 ? Int(numbers[2])! : 0
            if let pre {
                let ids = pre.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard ids.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) else { return nil }
                prerelease = ids
            } else {
                prerelease = []
            }
            guard metadata.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) else { return nil }
            self.metadata = String(metadata)
        }

        init(_ major: Int, _ minor: Int, _ patch: Int, prerelease: [String] = []) {
            self.major = major
            self.minor = minor
            self.patch = patch
            self.prerelease = prerelease
            metadata = ""
        }

        public static func < (a: Version, b: Version) -> Bool { compare(a, b) < 0 }
        public static func == (a: Version, b: Version) -> Bool { compare(a, b) == 0 }

        /// Semantic Versioning's precedence: build metadata ignored, a prerelease below its release.
        static func compare(_ a: Version, _ b: Version) -> Int {
            for (x, y) in [(a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)] where x != y { return x < y ? -1 : 1 }
            switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
            case (true, true): return 0
            case (true, false): return 1
            case (false, true): return -1
            case (false, false): break
            }
            for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
                switch (Int(x), Int(y)) {
                case (let i?, let j?): return i < j ? -1 : 1
                case (.some, nil): return -1
                case (nil, .some): return 1
                case (nil, nil): return x < y ? -1 : 1
                }
            }
            return a.prerelease.count == b.prerelease.count ? 0 : a.prerelease.count < b.prerelease.count ? -1 : 1
        }
    }

    /// A version constraint as Helm's semver library reads it: `||` between alternatives, `,` or
    /// spaces between conditions that must all hold, the operators `= != > < >= <= ~ ~> ^`,
    /// wildcards (`1.2.x`, `*`) and ranges (`1.2 - 1.4`). A version with a prerelease satisfies
    /// only conditions that name a prerelease themselves (hence charts' `>=1.21-0`).
    public struct Constraint: Sendable {
        enum Operator: String, Sendable { case eq = "=", ne = "!=", gt = ">", lt = "<", ge = ">=", le = "<=", tilde = "~", caret = "^" }

        struct Condition: Sendable {
            var op: Operator
            var version: Version
            /// How many of major.minor.patch were written (a wildcard ends them).
            var given: Int
            var hasPrerelease: Bool { !version.prerelease.isEmpty }
        }

        var alternatives: [[Condition]]

        public init?(_ text: String) {
            var alternatives: [[Condition]] = []
            for group in text.components(separatedBy: "||") {
                var tokens = group.replacingOccurrences(of: ",", with: " ").split(separator: " ").map(String.init)
                // An operator written apart from its version (`>= 1.2`) belongs to it.
                var joined: [String] = []
                while !tokens.isEmpty {
                    let t = tokens.removeFirst()
                    if t.allSatisfy({ "=!<>~^".contains($0) }), !tokens.isEmpty { joined.append(t + tokens.removeFirst()) } else { joined.append(t) }
                }
                var conditions: [Condition] = []
                var i = 0
                while i < joined.count {
                    if i + 2 < joined.count, joined[i + 1] == "-" {
                        guard let low = Self.condition(">=" + joined[i]), let high = Self.condition("<=" + joined[i + 2]) else { return nil }
                        conditions += low + high
                        i += 3
                        continue
                    }
                    guard let c = Self.condition(joined[i]) else { return nil }
                    conditions += c
                    i += 1
                }
                guard !conditions.isEmpty else { return nil }
                alternatives.append(conditions)
            }
            guard !alternatives.isEmpty else { return nil }
            self.alternatives = alternatives
        }

        /// One condition, with wildcards and `~`/`^` turned into bounds.
        static func condition(_ text: String) -> [Condition]? {
            var rest = Substring(text)
            var op = Operator.eq
            for (prefix, o) in [("!=", Operator.ne), (">=", .ge), ("=>", .ge), ("<=", .le), ("=<", .le), ("~>", .tilde), (">", .gt), ("<", .lt),
                                ("~", .tilde), ("^", .caret), ("=", .eq)] where rest.hasPrefix(prefix) {
                op = o
                rest = rest.dropFirst(prefix.count)
                break
            }
            if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
            if rest == "*" || rest == "x" || rest == "X" || rest.isEmpty {
                return op == .ne || op == .lt || op == .gt ? [] : [Condition(op: .ge, version: Version(0, 0, 0), given: 0)]
            }
            // Components up to the first wildcard.
            var core = rest
            var suffix: Substring = ""
            if let dash = core.firstIndex(where: { $0 == "-" || $0 == "+" }) {
                suffix = core[dash...]
                core = core[..<dash]
            }
            var parts = core.split(separator: ".", omittingEmptySubsequences: false)
            if let wild = parts.firstIndex(where: { $0 == "x" || $0 == "X" || $0 == "*" }) { parts = Array(parts[..<wild]) }
            let given = parts.count
            guard given > 0, let version = Version(parts.joined(separator: ".") + suffix) else { return nil }
            let next: Version = switch given {
            case 1: Version(version.major + 1, 0, 0)
            default: Version(version.major, version.minor + 1, 0)
            }
            switch op {
            case .tilde:
                let upper = given == 1 ? Version(version.major + 1, 0, 0) : Version(version.major, version.minor + 1, 0)
                return [Condition(op: .ge, version: version, given: given), Condition(op: .lt, version: upper, given: 3)]
            case .caret:
                let upper: Version = version.major > 0 || given == 1 ? Version(version.major + 1, 0, 0)
                    : version.minor > 0 || given == 2 ? Version(0, version.minor + 1, 0) : Version(0, 0, version.patch + 1)
                return [Condition(op: .ge, version: version, given: given), Condition(op: .lt, version: upper, given: 3)]
            case .eq where given < 3:
                return [Condition(op: .ge, version: version, given: given), Condition(op: .lt, version: next, given: 3)]
            case .ne where given < 3:
                return [Condition(op: .ne, version: version, given: given)]
            case .gt where given < 3:
                return [Condition(op: .ge, version: next, given: 3)]
            case .le where given < 3:
                return [Condition(op: .lt, version: next, given: 3)]
            default:
                return [Condition(op: op, version: version, given: given)]
            }
        }

        public func isSatisfied(by v: Version) -> Bool {
            alternatives.contains { group in group.allSatisfy { Self.check($0, v) } }
        }

        static func check(_ c: Condition, _ v: Version) -> Bool {
            // A prerelease version is only in range of a condition that names a prerelease.
            if !v.prerelease.isEmpty, !c.hasPrerelease, c.op != .ne { return false }
            let order = Version.compare(v, c.version)
            switch c.op {
            case .eq: return order == 0
            case .ne:
                if c.given < 3 {
                    let low = c.version, high = c.given == 1 ? Version(low.major + 1, 0, 0) : Version(low.major, low.minor + 1, 0)
                    return !(v >= low && v < high)
                }
                return order != 0
            case .gt: return order > 0
            case .lt: return order < 0
            case .ge: return order >= 0
            case .le: return order <= 0
            case .tilde, .caret: return false
            }
        }
    }
}
