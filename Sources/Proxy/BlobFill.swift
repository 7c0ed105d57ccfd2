import Logging
import NIOCore
import OCI
import RegistryCore
import Storage
import Tracing
import Synchronization
import Upstream

public enum BlobFillError: Error, Equatable, Sendable, CustomStringConvertible {
    case digestMismatch(expected: Digest, actual: Digest)
    case sizeMismatch(expected: Int64, actual: Int64)
    case upstream(String)
    case upstreamFailed(UpstreamError)
    case storage(String)
    case shuttingDown

    public var description: String {
        switch self {
        case .digestMismatch(let e, let a): "upstream sent content with digest \(a), expected \(e)"
        case .sizeMismatch(let e, let a): "upstream sent \(a) bytes, declared \(e)"
        case .upstream(let s): s
        case .upstreamFailed(let e): e.description
        case .storage(let s): "cache write failed: \(s)"
        case .shuttingDown: "the server is shutting down"
        }
    }

    /// What a client is told.
    public var registryError: RegistryError {
        switch self {
        case .upstreamFailed(let e): e.registryError(notFound: .blobUnknown)
        case .digestMismatch, .sizeMismatch: RegistryError(.unavailable, "upstream content failed verification", status: 502)
        case .upstream: RegistryError(.unavailable, "the upstream registry is unavailable", status: 503)
        case .storage: RegistryError(.unavailable, "the cache could not store the blob; retry later", status: 503, retryAfter: 30)
        case .shuttingDown: RegistryError(.unavailable, "the server is shutting down", status: 503)
        }
    }
}

/// One blob being copied from upstream into a spool file, readable by any number of
/// clients while it arrives. The spool file is the only buffer, so memory stays flat
/// whatever the blob size. The rules (who may read what, when) are in `StateMachine`;
/// this class adds the lock, the waiting, and the copy itself.
public final class BlobFill: Sendable {
    public let digest: Digest
    let spool: BlobFile
    private let machine = Mutex(StateMachine<Waiter>())
    private let nextWaiterID = Atomic<UInt64>(0)

    /// Network chunks (16–64 KiB) are gathered into writes of this size: below 256 KiB a buffered
    /// write costs several times as much per byte (measured here: 128 KiB writes 0.42 GB/s,
    /// 256 KiB and up 4.2–5 GB/s). Readers are told about new bytes once per write, not per
    /// chunk: each telling wakes every reader.
    static let writeSize = 1 << 20

    /// A reader waiting: a task, or a callback (an event loop streaming file regions).
    enum Waiter: Sendable {
        case task(CheckedContinuation<WaitResult, Never>)
        case callback(@Sendable (WaitResult) -> Void)

        func resume(_ result: WaitResult) {
            switch self {
            case .task(let continuation): continuation.resume(returning: result)
            case .callback(let callback): callback(result)
            }
        }
    }

    init(digest: Digest, spool: BlobFile) {
        self.digest = digest
        self.spool = spool
    }

    /// A reader for one client.
    var reader: FillReader { FillReader(fill: self) }

    // MARK: Readers

    /// Waits until `condition` holds (or the fill ends); a cancelled task stops waiting at once.
    func wait(for condition: Condition) async -> WaitResult {
        let id = nextWaiterID.wrappingAdd(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                perform(machine.withLock { $0.wait(id: id, for: condition, waiter: .task(continuation)) })
            }
        } onCancel: {
            perform(machine.withLock { $0.cancel(id: id) })
        }
    }

    /// Calls `callback` once `condition` holds (or the fill ends), on whichever thread makes it so.
    func notify(when condition: Condition, _ callback: @escaping @Sendable (WaitResult) -> Void) {
        let id = nextWaiterID.wrappingAdd(1, ordering: .relaxed).newValue
        perform(machine.withLock { $0.wait(id: id, for: condition, waiter: .callback(callback)) })
    }

    private func perform(_ action: StateMachine<Waiter>.Action) {
        for (waiter, result) in action.resume { waiter.resume(result) }
    }

    // MARK: The copy

    /// Runs the copy. Called once, on a task of the fill service that no client owns, so a
    /// fill goes on when the client that started it disconnects. `publish`: whether the verified
    /// blob goes into the store; a replica streaming another replica's fill leaves that to it.
    func run(fetch: @Sendable () async throws -> UpstreamBlob, store: any BlobStore, publish: Bool = true,
             logger: Logger) async -> Result<Int64, BlobFillError> {
        await withSpan(publish ? "cache.fill" : "cache.fill_from_peer") { span in
            span.attributes["portcullis.digest"] = digest.description
            let result = await copy(fetch: fetch, store: store, publish: publish, logger: logger)
            switch result {
            case .success(let length): span.attributes["portcullis.bytes"] = Int(length)
            case .failure(let failure):
                span.setStatus(SpanStatus(code: .error, message: "\(failure)"))
            }
            return result
        }
    }

    private func copy(fetch: @Sendable () async throws -> UpstreamBlob, store: any BlobStore, publish: Bool,
                      logger: Logger) async -> Result<Int64, BlobFillError> {
        var writer = SpoolWriter(spool: spool) { [self] count in perform(machine.withLock { $0.appended(count) }) }
        do {
            let source: UpstreamBlob
            do {
                source = try await fetch()
            } catch let error as UpstreamError {
                throw BlobFillError.upstreamFailed(error)
            } catch {
                throw BlobFillError.upstream(String(describing: error))
            }
            // A blob the disk cannot hold is refused before its first byte: a client told 200 and
            // then cut off at the disk's end would retry into the same wall.
            if let length = source.length, let free = spool.availableSpace(), free < length {
                throw BlobFillError.storage("no space for the blob's \(length) bytes: \(free) free where it is spooled")
            }
            perform(machine.withLock { $0.headReceived(length: source.length) })
            var hasher = DigestHasher(algorithm: digest.algorithm)
            var batch = ByteBuffer()
            batch.reserveCapacity(Self.writeSize)
            // Readers are told about a batch once it is in the spool (they may send it from there).
            func flush() async throws {
                guard batch.readableBytes > 0 else { return }
                let recycled: ByteBuffer?
                do {
                    recycled = try await writer.write(batch)
                } catch {
                    throw BlobFillError.storage(String(describing: error))
                }
                batch = recycled ?? ByteBuffer()
                batch.reserveCapacity(Self.writeSize)
            }
            // The body as the upstream sends it, each batch written to the spool as it comes.
            try await withSpan("upstream.body", ofKind: .client) { bodySpan in
                do {
                    for try await var chunk in source.body {
                        chunk.withUnsafeReadableBytes { hasher.update($0) }
                        let total = writer.handedOff + Int64(batch.readableBytes + chunk.readableBytes)
                        if let length = source.length, total > length {
                            throw BlobFillError.sizeMismatch(expected: length, actual: total)
                        }
                        batch.writeBuffer(&chunk)
                        // The first bytes go out at once so clients start receiving without delay.
                        if batch.readableBytes >= Self.writeSize || writer.handedOff == 0 { try await flush() }
                    }
                    try await flush()
                    do { try await writer.finish() } catch { throw BlobFillError.storage(String(describing: error)) }
                } catch let error as BlobFillError {
                    throw error
                } catch {
                    throw BlobFillError.upstream("transfer interrupted: \(error)")
                }
                bodySpan.attributes["portcullis.bytes"] = Int(writer.handedOff)
            }
            let written = writer.handedOff
            if let length = source.length, written != length {
                throw BlobFillError.sizeMismatch(expected: length, actual: written)
            }
            let actual = hasher.finalize()
            guard actual == digest else { throw BlobFillError.digestMismatch(expected: digest, actual: actual) }
            // Verified: readers may have the last byte now, while the blob is published (an
            // fsync and rename, or an upload to the object store, which can take a while).
            perform(machine.withLock { $0.completed() })
            guard publish else {
                // Readers keep the spool's descriptor; the name goes now.
                store.discard(spool)
                return .success(written)
            }
            do {
                try await withSpan("store.commit") { _ in try await store.commit(spool, as: digest) }
            } catch {
                throw BlobFillError.storage(String(describing: error))
            }
            return .success(written)
        } catch {
            let failure = error as? BlobFillError ?? .storage(String(describing: error))
            // A write still under way ends before the spool is discarded.
            try? await writer.finish()
            store.discard(spool)
            logger.warning("blob fill failed", metadata: ["digest": "\(digest)", "error": "\(failure)"])
            perform(machine.withLock { $0.failed(failure) })
            return .failure(failure)
        }
    }

    /// Ends a fill that never ran (the fill service would not take it).
    func abandon(_ error: BlobFillError, store: any BlobStore) {
        store.discard(spool)
        perform(machine.withLock { $0.failed(error) })
    }
}

/// One client's view of a fill: reads wait for bytes that have not arrived yet.
struct FillReader: ArrivingBlob {
    let fill: BlobFill

    var digest: Digest { fill.digest }

    func length() async throws -> Int64? {
        switch await fill.wait(for: .head) {
        case .head(let length): return length
        case .complete(let length): return length
        case .readable: return nil
        case .failed(let error): throw error.registryError
        case .cancelled: throw CancellationError()
        }
    }

    var localFile: BlobFile? { fill.spool }

    func whenReadable(after offset: Int64, _ callback: @escaping @Sendable (ArrivalProgress) -> Void) {
        fill.notify(when: .bytes(after: offset)) { result in
            switch result {
            case .readable(let upTo): callback(.readable(upTo: upTo))
            case .complete(let length): callback(.complete(length: length))
            case .head: callback(.readable(upTo: offset))
            case .failed(let error): callback(.failed(error.registryError))
            case .cancelled: callback(.failed(CancellationError()))
            }
        }
    }

    func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer {
        let end: Int64
        switch await fill.wait(for: .bytes(after: offset)) {
        case .readable(let upTo): end = upTo
        case .complete(let length): end = length
        case .head: end = offset
        case .failed(let error): throw error.registryError
        case .cancelled: throw CancellationError()
        }
        guard end > offset else { return ByteBuffer() }
        let buffer = try await fill.spool.read(at: offset, count: Int(min(Int64(maxCount), end - offset)))
        guard buffer.readableBytes > 0 else {
            throw BlobFillError.storage("spool shorter than written").registryError
        }
        return buffer
    }
}
