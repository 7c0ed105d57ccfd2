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
