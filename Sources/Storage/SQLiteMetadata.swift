import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit

extension SQLMetadataStore {
    /// Opens (creating if needed) the embedded SQLite database and applies migrations.
    public static func openSQLite(path: String, logger: Logger) async throws -> SQLMetadataStore {
        let connection = try await SQLiteConnection.open(
            storage: .file(path: path), threadPool: .singleton, logger: logger,
            on: MultiThreadedEventLoopGroup.singleton.any())
        let db = connection.sql(queryLogLevel: nil)
        // WAL lets readers proceed during writes and survives a crash mid-write.
        try await db.raw("PRAGMA journal_mode=WAL").run()
        try await db.raw("PRAGMA synchronous=NORMAL").run()
        try await db.raw("PRAGMA busy_timeout=5000").run()
        try await db.raw("PRAGMA foreign_keys=ON").run()
        let store = SQLMetadataStore(database: db, onClose: { try await connection.close() })
        try await store.migrate()
        return store
    }
}
