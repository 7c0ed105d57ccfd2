#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif
import Foundation
import NIOCore
import OCI

/// Blobs as files under `<root>/<algorithm>/<2 hex>/<hex>`, published by atomic rename.
public struct FileBlobStore: BlobStore {
    public let root: String
    public let spoolRoot: String

    /// Spool files left by a crash are never trusted: they are removed at start.
    public init(root: String, spoolRoot: String) throws {
        self.root = root
        self.spoolRoot = spoolRoot
        let fm = FileManager.default
        for algorithm in Digest.Algorithm.allCases {
            try fm.createDirectory(atPath: "\(root)/\(algorithm.rawValue)", withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
        }
        try fm.createDirectory(atPath: spoolRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for leftover in (try? fm.contentsOfDirectory(atPath: spoolRoot)) ?? [] {
            try? fm.removeItem(atPath: spoolRoot + "/" + leftover)
        }
    }

    func path(_ digest: Digest) -> String {
        "\(root)/\(digest.algorithm.rawValue)/\(digest.hex.prefix(2))/\(digest.hex)"
    }

    public func size(of digest: Digest) async throws -> Int64? {
        var st = stat()
        guard stat(path(digest), &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    public var opensLocally: Bool { true }

    public func open(_ digest: Digest) async throws -> (any BlobReader)? {
        do {
            let file = try BlobFile.openForReading(path(digest))
            return FileBlobReader(file: file, length: try file.size())
        } catch BlobFileError.errno(let e, _) where e == ENOENT {
            return nil
        }
    }

    public func makeSpoolFile() throws -> BlobFile {
        try BlobFile.create("\(spoolRoot)/\(UUID().uuidString.lowercased()).part")
    }

    public func commit(_ spool: BlobFile, as digest: Digest) async throws {
        try await spool.sync()
        let target = path(digest)
        let dir = String(target[..<target.lastIndex(of: "/")!])
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // rename(2) is atomic: readers see the old state or the whole blob, never a part.
        guard rename(spool.path, target) == 0 else {
            let e = errno
            unlink(spool.path)
            throw BlobFileError.errno(e, "rename")
        }
    }

    public func discard(_ spool: BlobFile) {
        unlink(spool.path)
    }

    public func put(_ bytes: ByteBuffer, as digest: Digest) async throws {
        if try await size(of: digest) != nil { return }
        let spool = try makeSpoolFile()
        do {
            try await spool.write(bytes, at: 0)
            try await commit(spool, as: digest)
        } catch {
            discard(spool)
            throw error
        }
    }

    public func delete(_ digest: Digest) async throws {
        unlink(path(digest))
    }
}

/// A blob in a local file.
public struct FileBlobReader: BlobReader {
    let file: BlobFile
    public let length: Int64

    public init(file: BlobFile, length: Int64) {
        self.file = file
        self.length = length
    }

    public func read(at offset: Int64, maxCount: Int) async throws -> ByteBuffer {
        let count = Int(min(Int64(maxCount), max(0, length - offset)))
        guard count > 0 else { return ByteBuffer() }
        return try await file.read(at: offset, count: count)
    }

    public var localFile: BlobFile? { file }
}
