import Foundation
import NIOCore
import Storage
import Synchronization
import Testing
@testable import Proxy

@Suite struct SpoolWriterTests {
    func spool() throws -> BlobFile {
        try BlobFile.create(NSTemporaryDirectory() + "spool-" + UUID().uuidString)
    }

    @Test func batchesLandInOrderAndReadersAreToldInOrder() async throws {
        let file = try spool()
        defer { unlink(file.path) }
        let told = Mutex<[Int64]>([])
        var writer = SpoolWriter(spool: file) { count in told.withLock { $0.append(count) } }
        let batches = (0..<20).map { i in ByteBuffer(repeating: UInt8(i), count: 1000 + i) }
        for batch in batches { _ = try await writer.write(batch) }
        try await writer.finish()
        #expect(told.withLock { $0 } == batches.map { Int64($0.readableBytes) }, "one call per batch, in offset order")
        #expect(writer.handedOff == Int64(batches.reduce(0) { $0 + $1.readableBytes }))
        let contents = try Data(contentsOf: URL(fileURLWithPath: file.path))
        #expect(contents == Data(batches.flatMap { Array($0.readableBytesView) }), "each batch at its offset")
    }

    @Test func aFailedWriteIsThrownAtTheNextStepAndNobodyIsToldOfIt() async throws {
        let file = try BlobFile.openForReading("/dev/null")  // read-only: every write fails
        let told = Mutex(0)
        var writer = SpoolWriter(spool: file) { _ in told.withLock { $0 += 1 } }
        _ = try await writer.write(ByteBuffer(repeating: 1, count: 10))
        var failure: (any Error)?
        do { try await writer.finish() } catch { failure = error }
        #expect(failure != nil, "the write's failure reaches the fill")
        #expect(told.withLock { $0 } == 0, "bytes that are not in the spool are never announced")
    }
}
