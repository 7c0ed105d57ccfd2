import Foundation

/// Everything `portcullis serve` can be told, with the embedded defaults.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "./portcullis-data"
    /// The scheme and host clients use to reach this server (pull secrets, token realms).
    /// When nil, taken from each request's Host header.
    public var publicURL: String?
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Lifetime of registry tokens; also bounds how long a revoked license's token works.
    public var tokenLifetime: TimeInterval = 300
    public var tagTTL: TimeInterval = 60
    public var staleLimit: TimeInterval = 24 * 3600
    /// Time to wait for an upstream's response head.
    public var upstreamTimeout: TimeInterval = 30
    public var manifestLimit = 4 << 20
    /// Failed logins per source address or per credential within a minute before 429.
    public var loginFailureLimit = 10
    /// How long in-flight requests may run after SIGTERM before they are cut.
    public var shutdownGrace: TimeInterval = 30
    /// Largest request header block accepted.
    public var maxHeaderBytes = 64 * 1024

    public init() {}

    public var usesTLS: Bool { tlsCertificatePath != nil }
}
