import Logging
import Metrics
import NIOCore
import SQLKit

/// Counts the statements the metadata store sends (`portcullis_db_statements_total`), so what a
/// request costs the database is measured rather than guessed (the benchmark reports it per
/// warm pull).
struct CountingSQLDatabase: SQLDatabase {
    let base: any SQLDatabase
    let statements = Counter(label: "portcullis_db_statements_total")

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        statements.increment()
        return base.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        statements.increment()
        try await base.execute(sql: query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await base.withSession { session in try await closure(CountingSQLDatabase(base: session)) }
    }
}
