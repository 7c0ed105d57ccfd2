#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif
import NIOCore
import NIOPosix

/// An open file read and written at explicit offsets on NIO's blocking thread pool.
///
/// `pread`/`pwrite` never move a shared cursor, so one descriptor serves a filling writer
/// and any number of readers at once. The descriptor closes when the last reference goes.
public final class BlobFile: Sendable {
    public let descriptor: CInt
    public let path: String

    init(descriptor: CInt, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Bytes free to an unprivileged writer on this file's filesystem; nil when unknown.
    public func availableSpace() -> Int64? {
        var stats = statvfs()
        guard fstatvfs(descriptor, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    public static func openForReading(_ path: String) throws -> BlobFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobFileError.errno(errno, "open") }
        return BlobFile(descriptor: fd, path: path)
    }

    /// Creates a new file that must not already exist.
    public static func create(_ path: String) throws -> BlobFile {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobFileError.errno(errno, "create") }
        return BlobFile(descriptor: fd, path: path)
    }

    public func size() throws -> Int64 {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw BlobFileError.errno(errno, "fstat") }
        return Int64(st.st_size)
    }

    public func read(at offset: Int64, count: Int, allocator: ByteBufferAllocator = .init()) async throws -> ByteBuffer {
        let fd = descriptor
        return try await NIOThreadPool.singleton.runIfActive {
            var buffer = allocator.buffer(capacity: count)
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { ptr in
                let r = pread(fd, ptr.baseAddress, count, off_t(offset))
                if r < 0 { throw BlobFileError.errno(errno, "pread") }
                return r
            }
            _ = n
            return buffer
        }
    }

    /// Cuts the file back to `length` bytes: what a broken write left past the bytes that count.
    public func truncate(to length: Int64) throws {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw BlobFileError.errno(errno, "ftruncate") }
    }

    /// `writeNow` on the blocking pool, for a writer that must not hold its task's thread.
    public func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        try await NIOThreadPool.singleton.runIfActive { try self.writeNow(buffer, at: offset) }
    }

    /// Writes on the calling thread. For writers that would otherwise hop to the thread pool for
    /// every chunk of a stream: a write to the page cache takes microseconds, the hop longer.
    public func writeNow(_ buffer: ByteBuffer, at offset: Int64) throws {
        try buffer.withUnsafeReadableBytes { ptr in
            var done = 0
            while done < ptr.count {
                let r = pwrite(descriptor, ptr.baseAddress! + done, ptr.count - done, off_t(offset) + off_t(done))
                if r < 0 {
                    if errno == EINTR { continue }
                    throw BlobFileError.errno(errno, "pwrite")
                }
                done += r
            }
        }
    }

    /// Flushes to stable storage before a blob becomes visible, so a crash cannot publish a hole.
    public func sync() async throws {
        let fd = descriptor
        try await NIOThreadPool.singleton.runIfActive {
            if fsync(fd) != 0 { throw BlobFileError.errno(errno, "fsync") }
        }
    }
}

public enum BlobFileError: Error, CustomStringConvertible {
    case errno(CInt, String)

    public var code: CInt {
        switch self { case .errno(let e, _): e }
    }

    public var description: String {
        switch self {
        case .errno(let e, let op): "\(op): \(String(cString: strerror(e)))"
        }
    }
}
