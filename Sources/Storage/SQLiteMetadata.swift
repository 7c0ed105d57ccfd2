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
        // A database that cannot be used (a corrupt file) must still close its connection: one
        // dropped unclosed trips SQLiteNIO's assertion, and the server dies before saying why.
        do {
            // WAL lets readers proceed during writes and survives a crash mid-write.
            try await db.raw("PRAGMA journal_mode=WAL").run()
            try await db.raw("PRAGMA synchronous=NORMAL").run()
            try await db.raw("PRAGMA busy_timeout=5000").run()
            try await db.raw("PRAGMA foreign_keys=ON").run()
        } catch {
            try? await connection.close()
            throw error
        }
        let store = SQLMetadataStore(database: db, onClose: { try await connection.close() })
        do { try await store.migrate() } catch {
            try? await store.close()
            throw error
        }
        return store
    }
}
