import AsyncHTTPClient
import Connectivity
import Foundation
import Logging
import NIOCore
import NIOPosix
import ObjectStore
import OCI
import PostgresKit
import SigV4
import SQLKit
import Storage

/// Where metadata and blobs live, as `serve` was configured.
public struct StorageConfiguration: Sendable {
    public enum Metadata: Sendable {
        /// The embedded SQLite database at this path.
        case sqlite(path: String)
        /// `postgres://USER:PASS@HOST:PORT/DB`, shared by every replica.
        case postgres(url: String)
    }

    public enum Blobs: Sendable {
        /// Content-addressed files under `root`.
        case directory(root: String)
        /// `s3://BUCKET[/PREFIX]`, credentials and endpoint from the standard AWS variables.
        case s3(url: String)
    }

    public var metadata: Metadata
    public var blobs: Blobs
    /// Fills and uploads in progress, whatever the blob store: the only thing on local disk.
    public var spool: String

    public init(metadata: Metadata, blobs: Blobs, spool: String) {
        self.metadata = metadata
        self.blobs = blobs
        self.spool = spool
    }

    /// The embedded defaults inside a data directory.
    public static func embedded(_ dataDir: DataDirectory) -> StorageConfiguration {
        StorageConfiguration(metadata: .sqlite(path: dataDir.databasePath), blobs: .directory(root: dataDir.blobsPath), spool: dataDir.spoolPath)
    }

    /// One line for the start-up banner, without passwords.
    public var summary: String {
        let database = switch metadata {
        case .sqlite(let path): "SQLite \(path)"
        case .postgres(let url): "PostgreSQL \(StorageBackend.redact(url))"
        }
        let blobStore = switch blobs {
        case .directory(let root): "blobs in \(root)"
        case .s3(let url): "blobs in \(url)"
        }
        return "\(database), \(blobStore)"
    }

    /// Whether several replicas can run on this storage (nothing they share is on local disk).
    public var isShared: Bool {
        if case .postgres = metadata, case .s3 = blobs { return true }
        return false
    }
}

/// Why the configured storage cannot be used, naming which and why.
public struct StorageStartupError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// The storage a server runs on, opened from its configuration. Everything above this sees
/// only the protocols (`MetadataStore`, `BlobStore`, `UploadPartStore`).
public struct StorageBackend: Sendable {
    public let metadata: any MetadataStore
    public let blobs: any BlobStore
    /// Where chunks of uploads live when replicas share them; nil for local blob storage.
    public let uploadParts: (any UploadPartStore)?
    /// Presigned URLs for blob GETs, when the blob store can make them.
    public let presign: (@Sendable (Digest, Int) -> String)?
    /// Whether replicas share this storage (leases, shared upload sessions, shared throttling).
    public let isShared: Bool
    /// The blob directory, when blobs are local files.
    public let localBlobDirectory: String?
    /// Checks the blob store answers, for readiness.
    public let probeBlobs: @Sendable () async throws -> Void
    private let closeAction: @Sendable () async throws -> Void

    public init(metadata: any MetadataStore, blobs: any BlobStore, uploadParts: (any UploadPartStore)? = nil,
                presign: (@Sendable (Digest, Int) -> String)? = nil, isShared: Bool = false, localBlobDirectory: String? = nil,
                probeBlobs: (@Sendable () async throws -> Void)? = nil, close: @escaping @Sendable () async throws -> Void = {}) {
        self.metadata = metadata
        self.blobs = blobs
        self.uploadParts = uploadParts
        self.presign = presign
        self.isShared = isShared
        self.localBlobDirectory = localBlobDirectory
        self.probeBlobs = probeBlobs ?? { blobs.discard(try blobs.makeSpoolFile()) }
        self.closeAction = close
    }

    public static func open(_ configuration: StorageConfiguration, logger: Logger) async throws -> StorageBackend {
        let metadata: SQLMetadataStore
        switch configuration.metadata {
        case .sqlite(let path):
            do {
                metadata = try await SQLMetadataStore.openSQLite(path: path, logger: logger)
            } catch {
                throw StorageStartupError(description: "cannot open the SQLite database at \(path): \(error)")
            }
        case .postgres(let url):
            metadata = try await openPostgres(url: url, logger: logger)
        }
        do {
            switch configuration.blobs {
            case .directory(let root):
                let blobs = try FileBlobStore(root: root, spoolRoot: configuration.spool)
                return StorageBackend(metadata: metadata, blobs: blobs, isShared: configuration.isShared, localBlobDirectory: root,
                                      close: { try await metadata.close() })
            case .s3(let url):
                let (blobs, http) = try await openS3(url: url, spool: configuration.spool, logger: logger)
                return StorageBackend(metadata: metadata, blobs: blobs, uploadParts: blobs, presign: { blobs.presignedURL($0, expires: $1) },
                                      isShared: configuration.isShared,
                                      probeBlobs: { try await blobs.probe() },
                                      close: {
                    try? await http.shutdown()
                    try await metadata.close()
                })
            }
        } catch {
            try? await metadata.close()
            throw error
        }
    }

    public func close() async throws { try await closeAction() }

    // MARK: PostgreSQL

    static func openPostgres(url: String, logger: Logger) async throws -> SQLMetadataStore {
        let redacted = redact(url)
        guard let configuration = try? SQLPostgresConfiguration(url: url) else {
            throw StorageStartupError(description: "the database URL \(redacted) is not a postgres://USER:PASS@HOST:PORT/DB URL")
        }
        let pools = EventLoopGroupConnectionPool(source: PostgresConnectionSource(sqlConfiguration: configuration),
                                                 maxConnectionsPerEventLoop: 8, requestTimeout: .seconds(10),
                                                 on: MultiThreadedEventLoopGroup.singleton)
        let handle = PostgresPools(pools: pools)
        let store = SQLMetadataStore(database: PostgresFailures(base: pools.database(logger: logger).sql(queryLogLevel: nil)),
                                     onClose: { try await handle.pools.shutdownAsync() })
        do {
            // Replicas starting together take turns: one applies the migrations, the others find them done.
            let connection = try await pools.requestConnection().get()
            defer { pools.releaseConnection(connection) }
            let sql = connection.sql(queryLogLevel: nil)
            try await sql.raw("SELECT pg_advisory_lock(\(unsafeRaw: String(Self.migrationLock)))").run()
            do {
                try await SQLMetadataStore.migrate(sql)
            } catch {
                try? await sql.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.migrationLock)))").run()
                throw error
            }
            try await sql.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.migrationLock)))").run()
        } catch {
            try? await pools.shutdownAsync()
            throw StorageStartupError(description: "cannot use the PostgreSQL database at \(redacted): \(describe(error))")
        }
        return store
    }

    /// An arbitrary constant all replicas agree on (it spells "portcu").
    static let migrationLock = 0x706f_7274_6375

    static func redact(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        return url[..<scheme.upperBound] + "…" + url[at...]
    }

    static func describe(_ error: any Error) -> String {
        // PostgresNIO keeps server details out of its description; they are what says why.
        let reflected = String(reflecting: error)
        if let message = reflected.range(of: "message: ") {
            return String(reflected[message.upperBound...].prefix { $0 != "," && $0 != ")" })
        }
        // Nor does it say that nothing answered, which is the commonest reason of all.
        let failure = ConnectionFailure(reflected: reflected)
        if case .other = failure { return String(describing: error).prefix(300).description }
        return failure.describe()
    }

    // MARK: S3

    static func openS3(url: String, spool: String, logger: Logger) async throws -> (S3BlobStore, HTTPClient) {
        let location: S3Location
        do { location = try S3Location(url: url) } catch { throw StorageStartupError(description: "\(error)") }
        guard let credentials = AWSCredentials.fromEnvironment() else {
            throw StorageStartupError(description: "the blob store \(url) needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(10), read: .seconds(60))
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let client = S3Client(location: location, credentials: credentials, http: http, logger: logger)
        do {
            // A wrong key or a missing bucket is found now, not at the first pull.
            try await client.headBucket()
            return (try S3BlobStore(client: client, spoolRoot: spool), http)
        } catch {
            try? await http.shutdown()
            throw StorageStartupError(description: "cannot use the blob store \(url) at \(location.endpoint): \(error)")
        }
    }
}

/// The connection pools, to close them from a `@Sendable` closure. `EventLoopGroupConnectionPool`
/// synchronizes itself (each loop's pool is confined to its event loop) but predates `Sendable`.
private struct PostgresPools: @unchecked Sendable {
    let pools: EventLoopGroupConnectionPool<PostgresConnectionSource>
}
