import Logging

/// Where metadata and blobs live, as `serve` was configured.
public struct StorageConfiguration: Sendable {
    public enum Metadata: Sendable {
        /// The embedded SQLite database at this path.
        case sqlite(path: String)
    }

    public enum Blobs: Sendable {
        /// Content-addressed files under `root`; fills and uploads spool under `spool`.
        case directory(root: String, spool: String)
    }

    public var metadata: Metadata
    public var blobs: Blobs

    public init(metadata: Metadata, blobs: Blobs) {
        self.metadata = metadata
        self.blobs = blobs
    }

    /// The embedded defaults inside a data directory.
    public static func embedded(_ dataDir: DataDirectory) -> StorageConfiguration {
        StorageConfiguration(metadata: .sqlite(path: dataDir.databasePath),
                             blobs: .directory(root: dataDir.blobsPath, spool: dataDir.spoolPath))
    }
}

/// The storage a server runs on, opened from its configuration. Everything above this
/// sees only `MetadataStore` and `BlobStore`.
public struct StorageBackend: Sendable {
    public let metadata: any MetadataStore
    public let blobs: any BlobStore
    private let closeAction: @Sendable () async throws -> Void

    public init(metadata: any MetadataStore, blobs: any BlobStore, close: @escaping @Sendable () async throws -> Void = {}) {
        self.metadata = metadata
        self.blobs = blobs
        self.closeAction = close
    }

    public static func open(_ configuration: StorageConfiguration, logger: Logger) async throws -> StorageBackend {
        let metadata: SQLMetadataStore
        switch configuration.metadata {
        case .sqlite(let path):
            metadata = try await SQLMetadataStore.openSQLite(path: path, logger: logger)
        }
        let blobs: any BlobStore
        do {
            switch configuration.blobs {
            case .directory(let root, let spool):
                blobs = try FileBlobStore(root: root, spoolRoot: spool)
            }
        } catch {
            try? await metadata.close()
            throw error
        }
        return StorageBackend(metadata: metadata, blobs: blobs, close: { try await metadata.close() })
    }

    public func close() async throws { try await closeAction() }
}
