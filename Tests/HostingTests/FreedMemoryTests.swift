import Foundation
import Hosting
import Testing

@Suite struct FreedMemoryTests {
    /// This process's private memory (`RssAnon`), in bytes.
    static func privateMemory() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") })
        let kib = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kib * 1024
    }

    /// What parsing a big chart leaves behind: many small blocks, freed, with a few still in use
    /// among them so the heap cannot simply shrink from its top.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status")))
    func heapPagesFreedByLargeWorkGoBackToTheSystem() throws {
        let count = 48 * 1024, size = 1024
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            block.initializeMemory(as: UInt8.self, repeating: 7, count: size)
            blocks.append(block)
        }
        var kept: [UnsafeMutableRawPointer] = []
        for (i, block) in blocks.enumerated() {
            if i % 64 == 0 { kept.append(block) } else { block.deallocate() }
        }
        blocks = []
        let before = try Self.privateMemory()
        FreedMemory.returnToSystem()
        let after = try Self.privateMemory()
        for block in kept { block.deallocate() }
        // 47 MiB were freed; other tests allocate meanwhile, so ask for a third of it.
        #expect(before - after > 16 << 20, "private memory \(before >> 20) MiB before, \(after >> 20) MiB after")
    }
}
