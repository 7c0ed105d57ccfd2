import Logging
import NIOCore
import OCI
import RegistryCore
import Storage
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
        case .storage: RegistryError(.unavailable, "the cache could not store the blob", status: 503)
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
    private let machine = Mutex(StateMachine<CheckedContinuation<WaitResult, Never>>())
    private let nextWaiterID = Atomic<UInt64>(0)

    static let batchSize = 256 * 1024

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
                perform(machine.withLock { $0.wait(id: id, for: condition, waiter: continuation) })
            }
        } onCancel: {
            perform(machine.withLock { $0.cancel(id: id) })
        }
    }

    private func perform(_ action: StateMachine<CheckedContinuation<WaitResult, Never>>.Action) {
        for (continuation, result) in action.resume { continuation.resume(returning: result) }
    }

    // MARK: The copy

    /// Runs the copy. Called once, on a task of the fill service that no client owns, so a
    /// fill goes on when the client that started it disconnects.
    func run(fetch: @Sendable () async throws -> UpstreamBlob, store: any BlobStore, logger: Logger) async -> Result<Int64, BlobFillError> {
        var written: Int64 = 0
        do {
            let source: UpstreamBlob
            do {
                source = try await fetch()
            } catch let error as UpstreamError {
                throw BlobFillError.upstreamFailed(error)
            } catch {
                throw BlobFillError.upstream(String(describing: error))
            }
            perform(machine.withLock { $0.headReceived(length: source.length) })
            var hasher = DigestHasher(algorithm: digest.algorithm)
            // Network chunks are small; gathering them into larger writes keeps the thread-pool
            // hops per GiB low, at the cost of readers seeing bytes up to one batch later.
            var batch = ByteBuffer()
            do {
                for try await var chunk in source.body {
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                    let total = written + Int64(batch.readableBytes + chunk.readableBytes)
                    if let length = source.length, total > length {
                        throw BlobFillError.sizeMismatch(expected: length, actual: total)
                    }
                    batch.writeBuffer(&chunk)
                    // The first bytes go out at once so clients start receiving without delay.
                    if batch.readableBytes >= Self.batchSize || written == 0 {
                        try await append(batch, at: &written)
                        batch.clear()
                    }
                }
                try await append(batch, at: &written)
            } catch let error as BlobFillError {
                throw error
            } catch {
                throw BlobFillError.upstream("transfer interrupted: \(error)")
            }
            if let length = source.length, written != length {
                throw BlobFillError.sizeMismatch(expected: length, actual: written)
            }
            let actual = hasher.finalize()
            guard actual == digest else { throw BlobFillError.digestMismatch(expected: digest, actual: actual) }
            do {
                try await store.commit(spool, as: digest)
            } catch {
                throw BlobFillError.storage(String(describing: error))
            }
            perform(machine.withLock { $0.completed() })
            return .success(written)
        } catch {
            let failure = error as? BlobFillError ?? .storage(String(describing: error))
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

    private func append(_ buffer: ByteBuffer, at written: inout Int64) async throws {
        guard buffer.readableBytes > 0 else { return }
        do {
            try await spool.write(buffer, at: written)
        } catch {
            throw BlobFillError.storage(String(describing: error))
        }
        written += Int64(buffer.readableBytes)
        perform(machine.withLock { $0.appended(Int64(buffer.readableBytes)) })
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
