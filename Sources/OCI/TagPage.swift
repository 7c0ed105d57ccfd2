/// One page of a tag list as the distribution spec orders it: lexically, after `last`, at most `n`.
public struct TagPage: Equatable, Sendable {
    public var tags: [String]
    /// The `last` value for the following page, when there is one.
    public var nextLast: String?

    public init(all: [String], n: Int?, last: String?) {
        var sorted = Array(Set(all)).sorted()
        if let last { sorted = sorted.filter { $0 > last } }
        if let n, n < sorted.count {
            tags = Array(sorted.prefix(n))
            nextLast = tags.last
        } else {
            tags = sorted
            nextLast = nil
        }
    }

    /// `{"name":…,"tags":[…]}`
    public func json(name: String) -> String {
        #"{"name":\#(JSONString.quote(name)),"tags":[\#(tags.map { JSONString.quote($0) }.joined(separator: ","))]}"#
    }

    /// The RFC 5988 `Link` header for the next page, if any.
    public func link(name: String, n: Int?) -> String? {
        guard let nextLast, let n else { return nil }
        var allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
        allowed += ""
        let encoded = nextLast.unicodeScalars.map { allowed.unicodeScalars.contains($0) ? String($0) : "%" + String(format: $0.value) }.joined()
        return "</v2/\(name)/tags/list?n=\(n)&last=\(encoded)>; rel=\"next\""
    }
}

private extension String {
    init(format value: UInt32) {
        let hex = String(value, radix: 16, uppercase: true)
        self = hex.count < 2 ? "0" + hex : hex
    }
}
