import Crypto
import Foundation
import OCI

/// The embedded deployment's on-disk layout, created on first start:
///
///     <data-dir>/metadata.sqlite   SQLite metadata
///     <data-dir>/blobs/            content-addressed blobs
///     <data-dir>/spool/            in-progress fills and uploads (emptied on start)
///     <data-dir>/secret.key        AES key for secrets at rest (0600)
///     <data-dir>/signing-key.pem   ES256 key for registry tokens (0600)
///     <data-dir>/admin-token       the admin API token (0600)
///     <data-dir>/serve.lock        held by the server running on it (its pid)
public struct DataDirectory: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    public var databasePath: String { root + "/metadata.sqlite" }
    public var blobsPath: String { root + "/blobs" }
    public var spoolPath: String { root + "/spool" }
    public var secretKeyPath: String { root + "/secret.key" }
    public var signingKeyPath: String { root + "/signing-key.pem" }
    public var adminTokenPath: String { root + "/admin-token" }
    /// Written on start so the local CLI finds the server without flags.
    public var apiURLPath: String { root + "/api-url" }
    public var lockPath: String { root + "/serve.lock" }

    /// Creates the directories; `blobs: false` when blobs live elsewhere (an object store).
    /// The directory and what is in it are the server's alone (the database holds password
    /// hashes and customer emails): directories 0700, files 0600, whatever made them before.
    public func prepare(blobs: Bool = true) throws {
        let fm = FileManager.default
        for dir in [root, spoolPath] + (blobs ? [blobsPath] : []) {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: dir, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw DataDirectoryError("\(dir) is a file, not a directory (--data-dir)")
            }
            do {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw DataDirectoryError("cannot create the data directory \(dir) (--data-dir): \(Self.reason(error))")
            }
            chmod(dir, 0o700)
        }
        for file in [databasePath, databasePath + "-wal", databasePath + "-shm", secretKeyPath, signingKeyPath, adminTokenPath, apiURLPath]
        where fm.fileExists(atPath: file) {
            chmod(file, 0o600)
        }
    }

    /// Reads the file, or creates it with `make()` and mode 0600 when it does not exist.
    public func secretFile(_ path: String, make: () throws -> String) throws -> String {
        if let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let value = try make()
        try writePrivate(path, value + "\n")
        return value
    }

    public func writePrivate(_ path: String, _ contents: String) throws {
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        if rename(tmp, path) != 0 { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }

    public func secretKey() throws -> [UInt8] {
        let text = try secretFile(secretKeyPath) { Base64.encode(SecretBox.generateKeyBytes()) }
        guard let bytes = Base64.decode(text), bytes.count == 32 else {
            // A new key would not open the registry credentials sealed with the old one.
            throw DataDirectoryError("\(secretKeyPath) is not a secret key (32 bytes, base64): restore it from a backup; "
                                     + "a new one would not open the registry credentials sealed with it")
        }
        return bytes
    }

    /// The shortest admin token taken from anywhere (file, variable, data directory).
    public static let shortestAdminToken = 24

    public func adminToken() throws -> String {
        let token = try secretFile(adminTokenPath) { "pca_" + randomHex(32) }
        guard token.count >= Self.shortestAdminToken else {
            throw DataDirectoryError("the admin token in \(adminTokenPath) is shorter than \(Self.shortestAdminToken) characters: "
                                     + "write a longer one there (openssl rand -hex 32), or remove the file for a new one")
        }
        return token
    }

    /// Taken before the spool is emptied or anything written, and held while the server runs: a
    /// second server on the same directory would empty the first's spool at start (failing its
    /// fills and uploads) and point the local CLI at itself.
    public func lockForServing() throws -> DataDirectoryLock {
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw DataDirectoryError("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = (FileManager.default.contents(atPath: lockPath).flatMap { String(data: $0, encoding: .utf8) } ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            guard failure == EWOULDBLOCK else {
                throw DataDirectoryError("cannot lock \(lockPath): \(String(cString: strerror(failure)))")
            }
            throw DataDirectoryError("the data directory \(root) is in use by another portcullis serve"
                                     + (holder.isEmpty ? "" : " (pid \(holder))") + "; give each server its own --data-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(descriptor: descriptor)
    }

    static func reason(_ error: any Error) -> String {
        ResourceShortage.posixCode(of: error).map { String(cString: strerror($0)) } ?? (error as NSError).localizedDescription
    }
}

/// A data directory held by the running server; released when the process ends (or this goes).
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }
}

/// The data directory cannot be used: said with the path and what to do.
public struct DataDirectoryError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(_ description: String) { self.description = description }
}

public func randomHex(_ byteCount: Int) -> String {
    var rng = SystemRandomNumberGenerator()
    return (0..<byteCount).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
}
