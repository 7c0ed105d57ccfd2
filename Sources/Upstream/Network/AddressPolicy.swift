/// An IPv4 or IPv6 address as bytes (4 or 16), whatever spelling it arrived in.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses the canonical text forms (`192.0.2.1`, `2001:db8::1`, `::ffff:10.0.0.1`). Other
    /// spellings of IPv4 (`0x7f000001`, `127.1`) are what a resolver turns into these; see `Resolver`.
    public init?(_ text: String) {
        let text = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        if let v4 = Self.parseV4(text) {
            bytes = v4
        } else if let v6 = Self.parseV6(text) {
            bytes = v6
        } else {
            return nil
        }
    }

    public var isV4: Bool { bytes.count == 4 }

    public var description: String {
        if isV4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }

    static func parseV4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigit), let n = UInt8(part) else { return nil }
            out.append(n)
        }
        return out
    }

    static func parseV6(_ text: String) -> [UInt8]? {
        guard text.contains(":"), !text.contains("%") else { return nil }
        var text = Substring(text)
        var tail: [UInt8] = []
        // A trailing dotted IPv4 part (`::ffff:10.0.0.1`).
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseV4(String(text[text.index(after: lastColon)...])) else { return nil }
            tail = v4
            text = text[...lastColon]
            if text.hasSuffix(":"), !text.hasSuffix("::") { text = text.dropLast() }
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            guard !s.isEmpty else { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let n = UInt16(g, radix: 16) else { return nil }
                out.append(n)
            }
            return out
        }
        guard let head = groups(halves[0]), let rest = halves.count == 2 ? groups(halves[1]) : [] else { return nil }
        let have = head.count + rest.count + tail.count / 2
        if halves.count == 1 { guard have == 8 else { return nil } } else { guard have < 8 else { return nil } }
        let zeros = [UInt16](repeating: 0, count: 8 - have)
        var out: [UInt8] = []
        for g in head + zeros + rest { out += [UInt8(g >> 8), UInt8(g & 0xff)] }
        return out + tail
    }
}

/// Which addresses Portcullis may connect to on behalf of what an upstream, a vendor's
/// configuration or a webhook URL names. Never: link-local addresses (cloud metadata services
/// live there), unspecified, multicast and broadcast addresses. Private addresses (loopback,
/// RFC 1918, shared and unique-local ranges) only when the operator opted in for on-premises
/// registries, or when the address is the registered endpoint itself. Everything else is public.
public struct AddressPolicy: Sendable, Equatable {
    public enum Kind: Equatable, Sendable {
        case `public`
        /// Reachable only inside a network: allowed with the opt-in.
        case `private`(String)
        /// Never a destination, whatever the configuration.
        case forbidden(String)
    }

    /// `--allow-private-upstreams`: on-premises registries, token services and webhooks.
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    /// What an address is, as a destination.
    public static func kind(of address: IPAddress) -> Kind {
        let b = address.bytes
        if address.isV4 { return kindV4(b) }
        // Addresses that carry an IPv4 address are judged by it: mapped (::ffff:a.b.c.d),
        // compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48).
        if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff { return kindV4(Array(b[12..<16])) }
        if b[0..<12].allSatisfy({ $0 == 0 }), !(b[12..<15].allSatisfy({ $0 == 0 }) && b[15] <= 1) { return kindV4(Array(b[12..<16])) }
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) { return kindV4(Array(b[12..<16])) }
        if b[0] == 0x20, b[1] == 0x02 { return kindV4(Array(b[2..<6])) }
        if b.allSatisfy({ $0 == 0 }) { return .forbidden("the unspecified address") }
        if b[0..<15].allSatisfy({ $0 == 0 }), b[15] == 1 { return .private("loopback") }
        if b[0] == 0xfe, b[1] & 0xc0 == 0x80 { return .forbidden("a link-local address") }
        if b[0] == 0xff { return .forbidden("a multicast address") }
        // AWS's IPv6 instance metadata service sits in fd00:ec2::/32.
        if b[0] == 0xfd, b[1] == 0x00, b[2] == 0x0e, b[3] == 0xc2 { return .forbidden("a cloud metadata address") }
        if b[0] & 0xfe == 0xfc { return .private("a unique-local address") }
        return .public
    }

    private static func kindV4(_ b: [UInt8]) -> Kind {
        switch (b[0], b[1]) {
        case (0, _): return .forbidden("the unspecified network 0.0.0.0/8")
        case (127, _): return .private("loopback")
        case (10, _): return .private("a private address")
        case (172, 16...31): return .private("a private address")
        case (192, 168): return .private("a private address")
        case (100, 64...127): return .private("a shared (carrier-grade NAT) address")
        case (198, 18...19): return .private("a benchmarking address")
        case (169, 254): return .forbidden(b[2] == 169 && b[3] == 254 ? "the cloud metadata address" : "a link-local address")
        case (224...239, _): return .forbidden("a multicast address")
        case (240...255, _): return .forbidden("a reserved or broadcast address")
        default: return .public
        }
    }

    /// Why `address` may not be connected to, or nil when it may. `isEndpoint`: the address is
    /// the registry's own registered endpoint, vetted when it was added.
    public func refusal(_ address: IPAddress, isEndpoint: Bool) -> String? {
        switch Self.kind(of: address) {
        case .public: return nil
        case .forbidden(let why): return "\(address) is \(why)"
        case .private(let why): return allowPrivate || isEndpoint ? nil : "\(address) is \(why) (start Portcullis with --allow-private-upstreams to reach on-premises hosts)"
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
