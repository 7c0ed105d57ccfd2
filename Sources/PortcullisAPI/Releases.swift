import Foundation

public struct ChannelBody: Codable, Sendable, Equatable {
    public var id: String
    public var app: String
    public var name: String
    public var slug: String
    public var createdAt: Date

    public init(id: String, app: String, name: String, slug: String, createdAt: Date) {
        self.id = id
        self.app = app
        self.name = name
        self.slug = slug
        self.createdAt = createdAt
    }
}

public struct CreateChannelRequest: Codable, Sendable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct CreateReleaseRequest: Codable, Sendable {
    public var version: String
    /// Chart archives (.tgz), base64.
    public var charts: [String]
    public var promote: String?
    public var releaseNotes: String?
    /// Refuse the release when `chart lint` finds errors.
    public var lint: Bool?
    /// Host images must use when linting (default: this server's public host).
    public var proxyHost: String?
    /// Images the linter cannot tell that the vendor checked by hand (`FILE:LINE` as lint names them, or `all`).
    public var acceptUnknown: [String]?

    public init(version: String, charts: [String], promote: String? = nil, releaseNotes: String? = nil, lint: Bool? = nil,
                proxyHost: String? = nil, acceptUnknown: [String]? = nil) {
        self.version = version
        self.charts = charts
        self.promote = promote
        self.releaseNotes = releaseNotes
        self.lint = lint
        self.proxyHost = proxyHost
        self.acceptUnknown = acceptUnknown
    }
}

public struct PromoteRequest: Codable, Sendable {
    public var channel: String
    public var version: String
    public var releaseNotes: String?

    public init(channel: String, version: String, releaseNotes: String?) {
        self.channel = channel
        self.version = version
        self.releaseNotes = releaseNotes
    }
}

public struct ReleaseBody: Codable, Sendable, Equatable {
    public struct Chart: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public var digest: String

        public init(name: String, version: String, digest: String) {
            self.name = name
            self.version = version
            self.digest = digest
        }
    }

    public var sequence: Int
    public var version: String
    public var releaseNotes: String?
    public var createdAt: Date
    public var editedAt: Date?
    public var activeChannels: [String]
    public var charts: [Chart]
    /// Things the vendor should know about the release just made (a chart version released before).
    public var warnings: [String]?

    public init(sequence: Int, version: String, releaseNotes: String?, createdAt: Date, editedAt: Date?, activeChannels: [String],
                charts: [Chart]) {
        self.sequence = sequence
        self.version = version
        self.releaseNotes = releaseNotes
        self.createdAt = createdAt
        self.editedAt = editedAt
        self.activeChannels = activeChannels
        self.charts = charts
    }
}
