import Foundation
import NIOCore
import NIOHTTP1

/// One request to a vendor's registry, as it travels down the transport chain.
public struct UpstreamRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: HTTPHeaders
    /// The registry this is for: whose credentials and cached tokens apply.
    public var target: UpstreamTarget
    /// The token scope to ask for when the registry challenges, e.g. `repository:org/api:pull`.
    public var scope: String
    /// A small request body (a token request's form or JSON); registry reads have none.
    public var body: ByteBuffer?

    /// True when the request goes to the registry's own registered endpoint (scheme, host and port).
    public var isToEndpoint: Bool { Origin(url) != nil && Origin(url) == Origin(target.baseURL) }

    public init(method: HTTPMethod, url: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil, target: UpstreamTarget, scope: String) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.target = target
        self.scope = scope
    }
}

/// A registry's answer. The body must be consumed or drained by whoever receives it.
public struct UpstreamResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: UpstreamBody
    /// Where the answer came from, when a redirect led away from the URL asked for.
    public var redirectedTo: String?

    public init(status: Int, headers: HTTPHeaders = [:], body: UpstreamBody = .empty, redirectedTo: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.redirectedTo = redirectedTo
    }

    public func header(_ name: String) -> String? { headers.first(name: name) }
}

/// A response body as a stream of buffers, whatever produced it.
public struct UpstreamBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    private let chunks: any AsyncSequence<ByteBuffer, any Error> & Sendable

    public init(_ chunks: some AsyncSequence<ByteBuffer, any Error> & Sendable) {
        self.chunks = chunks
    }

    /// A body that is all there in memory (small documents, tests).
    public static func bytes(_ buffers: [ByteBuffer]) -> UpstreamBody {
        UpstreamBody(BufferSequence(buffers: buffers))
    }

    public static var empty: UpstreamBody { .bytes([]) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: any AsyncIteratorProtocol<ByteBuffer, any Error>

        public mutating func next() async throws -> ByteBuffer? {
            try await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: chunks.makeAsyncIterator())
    }

    /// The whole body, refusing more than `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var out = ByteBuffer()
        for try await var chunk in self {
            guard out.readableBytes + chunk.readableBytes <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
            out.writeBuffer(&chunk)
        }
        return out
    }

    /// Reads and drops a small body so the connection can be reused.
    public func drain() async {
        _ = try? await collect(upTo: 1 << 20)
    }
}

struct BufferSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<ByteBuffer>
        mutating func next() async throws -> ByteBuffer? { remaining.popFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffers[...]) }
}

/// One layer of the HTTP stack that talks to vendors' registries. Each concern (sending,
/// redirects, authentication, metrics) is its own transport wrapping the next.
public protocol UpstreamTransport: Sendable {
    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse
}

/// Scheme, host and effective port of a URL: what decides where credentials may go.
public struct Origin: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    public init?(_ url: String) {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), let host = u.host?.lowercased(), !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host
        port = u.port ?? (scheme == "https" ? 443 : 80)
    }

    /// `host[:port]`, the port only when it is not the scheme's own.
    public var authority: String { port == (scheme == "https" ? 443 : 80) ? host : "\(host):\(port)" }
    public var description: String { "\(scheme)://\(host):\(port)" }
}
