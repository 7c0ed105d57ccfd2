import HTTPTypes
import Hummingbird
import NIOCore
import OCI
import Proxy
import RegistryCore
import Storage

/// Streams a blob, whole or one range, whether it is complete in the store or still arriving.
/// Nothing here holds more than one chunk in memory.
struct BlobResponder {
    let request: Request
    let digest: Digest
    var sendfile: SendfileRegistry? = nil
    /// Told while a stored blob is read out piece by piece, so eviction leaves it alone. (A local
    /// file sent with sendfile needs no such care: its open descriptor outlives an unlink.)
    var usage: CacheUsage? = nil
    static let chunkSize = 128 * 1024

    func respond(_ content: BlobContent) async throws -> Response {
        switch content {
        case .complete(let reader):
            if let sendfile, let file = reader.localFile {
                return zeroCopy(file, length: reader.length, registry: sendfile)
            }
            let usage = self.usage, digest = self.digest
            return ranged(length: reader.length) { start, end, writer in
                guard let usage else {
                    return try await Self.copy(from: start, through: end, to: &writer) { try await reader.read(at: $0, maxCount: $1) }
                }
                var out = writer
                try await usage.serving(digest) {
                    try await Self.copy(from: start, through: end, to: &out) { try await reader.read(at: $0, maxCount: $1) }
                }
                writer = out
            }
        case .arriving(let blob):
            let declared = try await blob.length()
            if let length = declared, let sendfile, let file = blob.localFile {
                return zeroCopy(file, arriving: blob, length: length, registry: sendfile)
            }
            guard let length = declared else {
                // No declared length upstream: stream it whole, chunked.
                return Response(status: .ok, headers: [.contentType: "application/octet-stream", .dockerContentDigest: digest.description],
                                body: .init { writer in
                                    try await Self.copy(from: 0, through: nil, to: &writer) { try await blob.read(at: $0, maxCount: $1) }
                                    try await writer.finish(nil)
                                })
            }
            return ranged(length: length) { start, end, writer in
                try await Self.copy(from: start, through: end, to: &writer) { try await blob.read(at: $0, maxCount: $1) }
            }
        }
    }

    /// What a request's `Range` asks of a blob: status, headers and the inclusive byte span,
    /// or the 416 answer when it asks for bytes past the end.
    private func plan(length: Int64) -> Result<(status: HTTPResponse.Status, headers: HTTPFields, start: Int64, end: Int64), RegistryError> {
        var headers = RegistryResponses.blobHeaders(digest, length: length)
        switch ByteRange.parse(request.headers[.range], length: length) {
        case .unsatisfiable:
            return .failure(RegistryError(.rangeInvalid, "requested range not satisfiable", status: 416))
        case .whole:
            return .success((.ok, headers, 0, length - 1))
        case .partial(let range):
            headers[.contentLength] = String(range.count)
            headers[.contentRange] = range.contentRange(length: length)
            return .success((.partialContent, headers, range.start, range.end))
        }
    }

    private func unsatisfiable(_ error: RegistryError, length: Int64) -> Response {
        .registryError(error, headers: [.contentRange: "bytes */\(length)"])
    }

    /// Headers only; the pipeline's `FileRegionWriter` sends the bytes with sendfile(2), as they
    /// arrive when the blob is still being fetched.
    private func zeroCopy(_ file: BlobFile, arriving: (any ArrivingBlob)? = nil, length: Int64, registry: SendfileRegistry) -> Response {
        switch plan(length: length) {
        case .failure(let error):
            return unsatisfiable(error, length: length)
        case .success(var p):
            if length > 0 {
                p.headers[SendfileRegistry.marker] = registry.register(file, arriving: arriving, start: p.start, end: p.end + 1)
            }
            return Response(status: p.status, headers: p.headers, body: .init())
        }
    }

    private func ranged(length: Int64, body: @escaping @Sendable (Int64, Int64, inout any ResponseBodyWriter) async throws -> Void) -> Response {
        switch plan(length: length) {
        case .failure(let error):
            return unsatisfiable(error, length: length)
        case .success(let p):
            return Response(status: p.status, headers: p.headers, body: .init(contentLength: Int(p.end - p.start + 1)) { writer in
                if length > 0 { try await body(p.start, p.end, &writer) }
                try await writer.finish(nil)
            })
        }
    }

    /// Copies bytes `start…end` (end inclusive; nil for all) with `read`, chunk by chunk.
    static func copy(from start: Int64, through end: Int64?, to writer: inout any ResponseBodyWriter,
                     read: (Int64, Int) async throws -> ByteBuffer) async throws {
        var offset = start
        while end.map({ offset <= $0 }) ?? true {
            let want = end.map { Int(min(Int64(chunkSize), $0 - offset + 1)) } ?? chunkSize
            let buffer = try await read(offset, want)
            guard buffer.readableBytes > 0 else {
                if end == nil { return }
                throw RegistryError(.unavailable, "blob shorter than recorded", status: 503)
            }
            offset += Int64(buffer.readableBytes)
            try await writer.write(buffer)
        }
    }
}
