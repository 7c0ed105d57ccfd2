import HTTPTypes
import Hummingbird
import NIOCore
import OCI
import Proxy
import Storage
import Upstream

/// Streams a blob, whole or one range, from the store or from a fill still arriving.
/// Nothing here holds more than one chunk in memory.
struct BlobResponder {
    let request: Request
    let digest: Digest
    var sendfile: SendfileRegistry? = nil
    static let chunkSize = 128 * 1024

    func respond(_ lookup: BlobCache.Lookup) async throws -> Response {
        switch lookup {
        case .stored(let reader):
            if let sendfile, let file = reader.localFile {
                return zeroCopy(file, length: reader.length, registry: sendfile)
            }
            return try ranged(length: reader.length) { start, end, writer in
                var offset = start
                while offset <= end {
                    let buffer = try await reader.read(at: offset, maxCount: min(Self.chunkSize, Int(end - offset + 1)))
                    guard buffer.readableBytes > 0 else { throw BlobFillError.storage("blob shorter than recorded") }
                    offset += Int64(buffer.readableBytes)
                    try await writer.write(buffer)
                }
            }
        case .filling(let fill):
            let length: Int64?
            do {
                length = try await fill.length()
            } catch {
                throw Self.registryError(for: error)
            }
            guard let length else {
                // No declared length upstream: stream it whole, chunked.
                return Response(status: .ok, headers: [.contentType: "application/octet-stream", dockerContentDigest: digest.description],
                                body: .init { writer in
                                    try await Self.stream(fill, from: 0, through: nil, to: &writer)
                                    try await writer.finish(nil)
                                })
            }
            return try ranged(length: length) { start, end, writer in
                try await Self.stream(fill, from: start, through: end, to: &writer)
            }
        }
    }

    /// What a request's `Range` asks of a blob: status, headers and the inclusive byte span,
    /// or the 416 answer when it asks for bytes past the end.
    private func plan(length: Int64) -> Result<(status: HTTPResponse.Status, headers: HTTPFields, start: Int64, end: Int64), RegistryError> {
        var headers = blobHeaders(digest, length: length)
        switch ByteRange.parse(request.headers[.range], length: length) {
        case .unsatisfiable:
            var error = RegistryError(.rangeInvalid, "requested range not satisfiable")
            error.status = 416
            return .failure(error)
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

    /// Headers only; the pipeline's `FileRegionWriter` sends the bytes with sendfile(2).
    private func zeroCopy(_ file: BlobFile, length: Int64, registry: SendfileRegistry) -> Response {
        switch plan(length: length) {
        case .failure(let error):
            return unsatisfiable(error, length: length)
        case .success(var p):
            if length > 0 { p.headers[SendfileRegistry.marker] = registry.register(file, start: p.start, end: p.end + 1) }
            return Response(status: p.status, headers: p.headers, body: .init())
        }
    }

    private func ranged(length: Int64, body: @escaping @Sendable (Int64, Int64, inout any ResponseBodyWriter) async throws -> Void) throws -> Response {
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

    /// Copies bytes `start…end` (end inclusive; nil for all) from a fill as they arrive.
    static func stream(_ fill: BlobFill, from start: Int64, through end: Int64?, to writer: inout any ResponseBodyWriter) async throws {
        var offset = start
        while end.map({ offset <= $0 }) ?? true {
            let available: Int64
            let complete: Bool
            switch try await fill.progress(after: offset) {
            case .available(let written): available = written; complete = false
            case .complete(let length): available = length; complete = true
            }
            let limit = min(available, end.map { $0 + 1 } ?? available)
            while offset < limit {
                let buffer = try await fill.spool.read(at: offset, count: Int(min(Int64(chunkSize), limit - offset)))
                guard buffer.readableBytes > 0 else { throw BlobFillError.storage("spool shorter than written") }
                offset += Int64(buffer.readableBytes)
                try await writer.write(buffer)
            }
            if complete && offset >= available { break }
        }
    }

    static func registryError(for error: BlobFillError) -> any Error {
        switch error {
        case .upstreamFailed(let e): e
        case .digestMismatch, .sizeMismatch: RegistryError(.unavailable, "upstream content failed verification", status: 502)
        case .upstream: RegistryError(.unavailable, "the upstream registry is unavailable", status: 503)
        case .storage: RegistryError(.unavailable, "the cache could not store the blob", status: 503)
        }
    }
}
