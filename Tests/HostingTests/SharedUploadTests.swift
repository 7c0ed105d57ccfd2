import Foundation
import NIOCore
import OCI
import Storage
import Testing
@testable import Hosting

/// Upload parts as files in a directory, standing in for the object store (the S3 path is
/// covered end to end against a real S3 server in e2e/test_replicas.py).
struct DirectoryParts: UploadPartStore {
    let root: String

    func path(_ key: String) -> String { root + "/" + key.replacingOccurrences(of: "/", with: "_") }

    func putPart(_ file: BlobFile, offset: Int64, length: Int64, key: String) async throws {
        let out = try BlobFile.create(path(key))
        var done: Int64 = 0
        while done < length {
            let chunk = try await file.read(at: offset + done, count: Int(min(1 << 16, length - done)))
            try await out.write(chunk, at: done)
            done += Int64(chunk.readableBytes)
        }
    }

    func openPart(_ key: String) async throws -> (any BlobReader)? {
        guard let file = try? BlobFile.openForReading(path(key)) else { return nil }
        return FileBlobReader(file: file, length: try file.size())
    }

    func deletePart(_ key: String) async throws { unlink(path(key)) }

    var count: Int { (try? FileManager.default.contentsOfDirectory(atPath: root).count) ?? -1 }
}

/// Two replicas' upload sessions over one database, one part store and one blob root.
@Suite struct SharedUploadTests {
    struct Pair {
        let env: Env
        let parts: DirectoryParts
        let a: SharedUploadSessions
        let b: SharedUploadSessions

        static func make() async throws -> Pair {
            let env = try await Env.make()
            let parts = DirectoryParts(root: env.dir + "/parts")
            try FileManager.default.createDirectory(atPath: parts.root, withIntermediateDirectories: true)
            func replica(_ name: String) throws -> SharedUploadSessions {
                SharedUploadSessions(sessions: env.store, parts: parts,
                                     store: try FileBlobStore(root: env.dir + "/blobs", spoolRoot: env.dir + "/spool-" + name))
            }
            return Pair(env: env, parts: parts, a: try replica("a"), b: try replica("b"))
        }
    }

    @Test func chunksOnDifferentReplicasMakeOneBlob() async throws {
        let p = try await Pair.make()
        let bytes = (0..<250_000).map { UInt8($0 % 251) }
        let digest = Digest.of(bytes)
        let id = try await p.a.start(repository: "app/api")
        #expect(try await p.b.append(id, repository: "app/api", start: 0, body: Chunks(parts: [Array(bytes[..<100_000])])) == 100_000)
        #expect(try await p.a.size(id, repository: "app/api") == 100_000)
        #expect(try await p.a.append(id, repository: "app/api", start: 100_000, body: Chunks(parts: [Array(bytes[100_000..<200_000])])) == 200_000)
        // Replica b holds only the first chunk, so it reads the parts back to finish.
        #expect(try await p.b.finish(id, repository: "app/api", start: 200_000, lastChunk: Chunks(parts: [Array(bytes[200_000...])]),
                                     digest: digest) == Int64(bytes.count))
        #expect(try await p.env.blobs.readAll(digest, limit: 1 << 20).map { Array($0.readableBytesView) } == bytes)
        #expect(try await p.a.size(id, repository: "app/api") == nil, "the session is over on every replica")
        try await Task.sleep(for: .milliseconds(200))  // parts are removed after the blob is published
        #expect(p.parts.count == 0)
        try await p.env.close()
    }

    @Test func localCopiesAreBoundedAndSessionsPastTheBoundFinishFromTheirParts() async throws {
        let env = try await Env.make()
        let parts = DirectoryParts(root: env.dir + "/parts")
        try FileManager.default.createDirectory(atPath: parts.root, withIntermediateDirectories: true)
        let sessions = SharedUploadSessions(sessions: env.store, parts: parts, store: env.blobs, localCopyLimit: 1)
        let first = try await sessions.start(repository: "app/api"), second = try await sessions.start(repository: "app/api")
        _ = try await sessions.append(first, repository: "app/api", start: 0, body: Chunks(parts: [[1, 2, 3]]))
        _ = try await sessions.append(second, repository: "app/api", start: 0, body: Chunks(parts: [[4, 5, 6]]))
        #expect(await sessions.localCopies == 1, "a second open file was kept past the bound")
        let bytes: [UInt8] = [4, 5, 6, 7]
        #expect(try await sessions.finish(second, repository: "app/api", start: 3, lastChunk: Chunks(parts: [[7]]), digest: Digest.of(bytes)) == 4)
        #expect(try await env.blobs.readAll(Digest.of(bytes), limit: 1 << 10).map { Array($0.readableBytesView) } == bytes)
        try await env.close()
    }

    @Test func aChunkCutOffMidwayLeavesTheSessionToResumeOnAnyReplica() async throws {
        let p = try await Pair.make()
        let bytes = (0..<200_000).map { UInt8($0 % 249) }
        let id = try await p.a.start(repository: "app/api")
        #expect(try await p.a.append(id, repository: "app/api", start: 0, body: Chunks(parts: [Array(bytes[..<80_000])])) == 80_000)
        await #expect(throws: RegistryError.self) {
            try await p.a.append(id, repository: "app/api", start: 80_000, body: BrokenChunks(parts: [Array(bytes[80_000..<120_000])]))
        }
        #expect(try await p.b.size(id, repository: "app/api") == 80_000)
        #expect(try await p.b.finish(id, repository: "app/api", start: 80_000, lastChunk: Chunks(parts: [Array(bytes[80_000...])]),
                                     digest: Digest.of(bytes)) == Int64(bytes.count))
        #expect(try await p.env.blobs.readAll(Digest.of(bytes), limit: 1 << 20).map { Array($0.readableBytesView) } == bytes)
        try await p.env.close()
    }

    @Test func aChunkForAnOffsetAlreadyWrittenIsOutOfOrder() async throws {
        let p = try await Pair.make()
        let id = try await p.a.start(repository: "app/api")
        _ = try await p.a.append(id, repository: "app/api", start: nil, body: Chunks(parts: [[1, 2, 3]]))
        let error = await #expect(throws: RegistryError.self) {
            try await p.b.append(id, repository: "app/api", start: 0, body: Chunks(parts: [[9]]))
        }
        #expect(error?.code == .rangeInvalid)
        #expect(try await p.b.size(id, repository: "app/api") == 3)
        #expect(try await p.b.size(id, repository: "other/repo") == nil, "a session belongs to its repository")
        try await p.env.close()
    }

    @Test func aWrongDigestPublishesNothingAndCancelRemovesParts() async throws {
        let p = try await Pair.make()
        let id = try await p.a.start(repository: "app/api")
        _ = try await p.a.append(id, repository: "app/api", start: nil, body: Chunks(parts: [Array("abc".utf8)]))
        let claimed = Digest.of(Array("abd".utf8))
        await #expect(throws: RegistryError.self) {
            try await p.b.finish(id, repository: "app/api", start: nil, lastChunk: Chunks(parts: []), digest: claimed)
        }
        #expect(try await p.env.blobs.size(of: claimed) == nil)
        let other = try await p.b.start(repository: "app/api")
        _ = try await p.b.append(other, repository: "app/api", start: nil, body: Chunks(parts: [[1]]))
        #expect(try await p.a.cancel(other, repository: "app/api"))
        #expect(try await !p.a.cancel(other, repository: "app/api"))
        try await Task.sleep(for: .milliseconds(200))
        #expect(p.parts.count == 0)
        try await p.env.close()
    }
}
