import Logging
import NIOCore
import OCI
import Storage
import Upstream

/// The fetch behind a fill: the upstream's declared length (if any) and its byte stream.
public struct BlobSource: Sendable {
    public var length: Int64?
    public var chunks: any AsyncSequence<ByteBuffer, any Error> & Sendable

    public init(length: Int64?, chunks: any AsyncSequence<ByteBuffer, any Error> & Sendable) {
        self.length = length
        self.chunks = chunks
    }
}

public enum BlobFillError: Error, Equatable, CustomStringConvertible {
    case digestMismatch(expected: Digest, actual: Digest)
    case sizeMismatch(expected: Int64, actual: Int64)
    case upstream(String)
    case upstreamFailed(UpstreamError)
    case storage(String)

    public var description: String {
        switch self {
        case .digestMismatch(let e, let a): "upstream sent content with digest \(a), expected \(e)"
        case .sizeMismatch(let e, let a): "upstream sent \(a) bytes, declared \(e)"
        case .upstream(let s): s
        case .upstreamFailed(let e): e.description
        case .storage(let s): "cache write failed: \(s)"
        }
    }
}

/// One blob being copied from upstream into the spool, readable by any number of clients
/// while it arrives. The spool file is the only buffer: readers `pread` up to the bytes
/// written so far and wait for more, so memory stays flat whatever the blob size.
///
/// States: waiting for the upstream's response head → streaming → committed or failed.
/// Only a verified blob (size and digest) is committed; a failed fill removes its spool file.
public actor BlobFill {
    public enum Progress: Equatable, Sendable {
        /// Bytes `0..<written` can be read from `spool`.
        case available(written: Int64)
        /// The fill is done and verified; `length` bytes in all.
        case complete(length: Int64)
    }

    enum State {
        case starting
        case streaming(length: Int64?)
        case complete(length: Int64)
        case failed(BlobFillError)
    }

    static let batchSize = 256 * 1024

    public nonisolated let digest: Digest
    public nonisolated let spool: BlobFile
    private var state: State = .starting
    private var written: Int64 = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(digest: Digest, spool: BlobFile) {
        self.digest = digest
        self.spool = spool
    }

    /// Waits for the upstream's response head; returns the declared length if there is one.
    public func length() async throws(BlobFillError) -> Int64? {
        while true {
            switch state {
            case .starting: await waitForChange()
            case .streaming(let length): return length
            case .complete(let length): return length
            case .failed(let error): throw error
            }
        }
    }

    /// Returns once more than `offset` bytes are readable, or the fill is complete.
    ///
    /// The last byte is held back until the digest is verified: a client can receive
    /// everything but that byte while the blob streams in, so content that fails
    /// verification never reaches anyone as a complete, successful response.
    public func progress(after offset: Int64) async throws(BlobFillError) -> Progress {
        while true {
            switch state {
            case .failed(let error): throw error
            case .complete(let length): return .complete(length: length)
            case .starting, .streaming:
                let visible = written - 1
                if visible > offset { return .available(written: visible) }
                await waitForChange()
            }
        }
    }

    private func waitForChange() async {
        await withCheckedContinuation { waiters.append($0) }
    }

    private func changed() {
        let woken = waiters
        waiters.removeAll(keepingCapacity: true)
        for w in woken { w.resume() }
    }

    private func append(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        do {
            try await spool.write(buffer, at: written)
        } catch {
            throw BlobFillError.storage(String(describing: error))
        }
        written += Int64(buffer.readableBytes)
        changed()
    }

    /// Runs the copy. Called once, by the cache, on a task no client owns, so a fill
    /// continues when the client that started it disconnects.
    func run(fetch: @Sendable () async throws -> BlobSource, store: any BlobStore, logger: Logger) async -> Result<Int64, BlobFillError> {
        do {
            let source: BlobSource
            do {
                source = try await fetch()
            } catch let error as UpstreamError {
                throw BlobFillError.upstreamFailed(error)
            } catch {
                throw BlobFillError.upstream(String(describing: error))
            }
            state = .streaming(length: source.length)
            changed()
            var hasher = DigestHasher()
            // Network chunks are small; gathering them into larger writes keeps the thread-pool
            // hops per GiB low, at the cost of readers seeing bytes up to one batch later.
            var batch = ByteBuffer()
            do {
                for try await var chunk in source.chunks {
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                    if let length = source.length, written + Int64(batch.readableBytes + chunk.readableBytes) > length {
                        throw BlobFillError.sizeMismatch(expected: length, actual: written + Int64(batch.readableBytes + chunk.readableBytes))
                    }
                    batch.writeBuffer(&chunk)
                    // The first bytes go out at once so clients start receiving without delay.
                    if batch.readableBytes >= Self.batchSize || written == 0 {
                        try await append(batch)
                        batch.clear()
                    }
                }
                try await append(batch)
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
            state = .complete(length: written)
            changed()
            return .success(written)
        } catch {
            let failure = error as? BlobFillError ?? .storage(String(describing: error))
            store.discard(spool)
            logger.warning("blob fill failed", metadata: ["digest": "\(digest)", "error": "\(failure)"])
            state = .failed(failure)
            changed()
            return .failure(failure)
        }
    }
}
