import Foundation

/// The admin API's JSON shapes (`/api/v1`), shared by the server and the CLI so the two
/// cannot disagree. Secrets go in, never out — except a license ID, which the vendor hands
/// to its customer, and a vendor token in the answer that creates it.
public struct AppBody: Codable, Sendable, Equatable {
    public var id: String
    public var slug: String
    public var name: String
    public var createdAt: Date

    public init(id: String, slug: String, name: String, createdAt: Date) {
        self.id = id
        self.slug = slug
        self.name = name
        self.createdAt = createdAt
    }
}

public struct CreateAppRequest: Codable, Sendable {
    public var slug: String
    public var name: String?

    public init(slug: String, name: String?) {
        self.slug = slug
        self.name = name
    }
}

/// `{"error": "…"}`, the body of every admin API error.
public struct APIErrorBody: Codable, Sendable {
    public var error: String

    public init(error: String) { self.error = error }
}

/// JSON coding both sides use: ISO 8601 dates, sorted keys.
public enum APICoding {
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
