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

    /// Creates the directories; `blobs: false` when blobs live elsewhere (an object store).
    /// The directory and what is in it are the server's alone (the database holds password
    /// hashes and customer emails): directories 0700, files 0600, whatever made them before.
    public func prepare(blobs: Bool = true) throws {
        let fm = FileManager.default
        for dir in [root, spoolPath] + (blobs ? [blobsPath] : []) {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
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
        guard let bytes = Base64.decode(text), bytes.count == 32 else { throw SecretBoxError.badKey }
        return bytes
    }

    public func adminToken() throws -> String {
        try secretFile(adminTokenPath) { "pca_" + randomHex(32) }
    }
}

public func randomHex(_ byteCount: Int) -> String {
    var rng = SystemRandomNumberGenerator()
    return (0..<byteCount).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
}
