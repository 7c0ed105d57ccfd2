import Connectivity
import Logging
import NIOCore
import PostgresKit
import SQLKit
import Storage

/// A PostgreSQL database whose failures to be reached are `StorageUnavailable`, so requests
/// answer 503 while the database is away; errors the server reports about a statement
/// (a unique violation, a syntax error) pass through unchanged.
struct PostgresFailures: SQLDatabase {
    let base: any SQLDatabase

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        base.execute(sql: query, onRow).flatMapErrorThrowing { throw Self.classify($0) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        do {
            let deadline = Self.statementDeadline
            try await withDeadline(deadline, timedOut: { StorageUnavailable(store: "database", reason: "no answer within \(deadline)") }) {
                [base] in try await base.execute(sql: query, onRow)
            }
        } catch {
            throw Self.classify(error)
        }
    }

    /// How long a statement may go unanswered before the database counts as unavailable. The
    /// pool bounds the wait for a connection, but nothing bounds a statement on a connection it
    /// already has: a PostgreSQL that stops answering (frozen, or a path that drops packets)
    /// held every request on it with no end, `/readyz` included. Well beyond any statement
    /// Portcullis sends (migrations, which may wait for another replica's, run outside this).
    static let statementDeadline: Duration = .seconds(10)

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await base.withSession { try await closure(PostgresFailures(base: $0)) }
    }

    static func classify(_ error: any Error) -> any Error {
        guard let psql = error as? PSQLError else {
            // The pool found no connection, or the socket failed.
            return StorageUnavailable(store: "database", reason: String(describing: error).prefix(200).description)
        }
        guard psql.code == .server else { return StorageUnavailable(store: "database", reason: psql.code.description) }
        // Connection exceptions (08), operator intervention such as a shutdown (57), insufficient resources (53).
        let state = psql.serverInfo?[.sqlState] ?? ""
        if ["08", "57", "53"].contains(String(state.prefix(2))) {
            return StorageUnavailable(store: "database", reason: psql.serverInfo?[.message] ?? state)
        }
        return error
    }
}
