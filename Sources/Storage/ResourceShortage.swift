import Foundation
import NIOCore
import SQLiteKit

/// The server itself running short: a full disk, a read-only filesystem, no file descriptors
/// left. Neither the client's fault nor a bug: the client is asked to retry later (503 with
/// `Retry-After`, which registry clients honour) and the operator is told what ran out.
public enum ResourceShortage: Sendable, Equatable, CustomStringConvertible {
    case diskFull
    case readOnly
    case outOfDescriptors

    /// The shortage `error` reports, found in the errno of a file operation, a NIO I/O error,
    /// Foundation's POSIX errors or SQLite's result codes; nil when it reports none.
    public init?(_ error: any Error) {
        if let shortage = Self.posix(Self.posixCode(of: error)) {
            self = shortage
            return
        }
        guard let sqlite = error as? SQLiteError else { return nil }
        switch sqlite.reason {
        case .full: self = .diskFull
        case .readOnly: self = .readOnly
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .diskFull: "the server's storage is full"
        case .readOnly: "the server's storage is read-only"
        case .outOfDescriptors: "the server has no file descriptors left"
        }
    }

    /// The errno a file operation, NIO or Foundation (itself or as the underlying error) reports.
    static func posixCode(of error: any Error) -> CInt? {
        switch error {
        case let error as BlobFileError: return error.code
        case let error as IOError: return error.errnoCode
        default:
            let ns = error as NSError
            if ns.domain == NSPOSIXErrorDomain { return CInt(ns.code) }
            if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
                let inner = underlying as NSError
                if inner.domain == NSPOSIXErrorDomain { return CInt(inner.code) }
            }
            return nil
        }
    }

    private static func posix(_ code: CInt?) -> ResourceShortage? {
        switch code {
        case ENOSPC, EDQUOT: .diskFull
        case EROFS: .readOnly
        case EMFILE, ENFILE: .outOfDescriptors
        default: nil
        }
    }
}
