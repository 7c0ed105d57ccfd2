import NIOCore
import Storage

/// Writes a fill's batches into its spool behind the fill: one batch is written on a task of
/// its own while the fill receives and hashes the next, so the two use both cores instead of
/// taking turns. Writing a batch into fresh page-cache pages is the slowest step of a cold pull
/// on these machines (bench/RESULTS.md: 0.58 GB/s, against SHA-256's ~1.5), and the fill used
/// to wait for each write before reading on: a cold 1 GiB pull went from 529 to 874 MB/s. The
/// write stays a plain `pwrite` on a task rather than a hop to NIO's thread pool: measured, the
/// hop's threads cost 4–5 MiB more peak RSS for no more speed. One write in flight keeps the
/// order (readers are told about bytes in offset order) and two buffers per fill.
///
/// Buffered rather than `O_DIRECT`, by measurement (bench/RESULTS.md, issue 28): `O_DIRECT`
/// writes 4× faster than a buffered write into fresh pages, but leaves nothing of the blob in the
/// page cache, so followers sent the spool with sendfile read it back from disk at 0.5 GB/s; with
/// the newest batches sent from memory instead (bench/experiments/odirect-recent-batches.patch)
/// one cold client got 753 MB/s against 874 here, with 10 MiB more RSS. `fallocate` beforehand
/// does not help: it reserves disk blocks, not the page-cache pages whose first touch is the cost.
struct SpoolWriter {
    let spool: BlobFile
    /// Called, in offset order, once a batch is in the spool: its byte count.
    let written: @Sendable (Int64) -> Void
    private var inFlight: Task<ByteBuffer, any Error>?
    /// Bytes handed to writes so far: where the next batch goes.
    private(set) var handedOff: Int64 = 0

    init(spool: BlobFile, written: @escaping @Sendable (Int64) -> Void) {
        self.spool = spool
        self.written = written
    }

    /// Starts writing `batch` once the previous write is done (its failure is thrown here), and
    /// gives back the previous batch's buffer, emptied, for the next batch: two buffers take
    /// turns, so a fill allocates nothing per batch.
    mutating func write(_ batch: ByteBuffer) async throws -> ByteBuffer? {
        var previous = try await inFlight?.value
        // The finished task let go first, so emptying the buffer copies nothing.
        inFlight = nil
        previous?.clear()
        let offset = handedOff, spool = self.spool, written = self.written
        handedOff += Int64(batch.readableBytes)
        inFlight = Task {
            try spool.writeNow(batch, at: offset)
            written(Int64(batch.readableBytes))
            return batch
        }
        return previous
    }

    /// Waits for the last write; its failure is thrown here.
    mutating func finish() async throws {
        defer { inFlight = nil }
        _ = try await inFlight?.value
    }
}
