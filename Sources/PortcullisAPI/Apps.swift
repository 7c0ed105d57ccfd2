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
        d.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = try? Date.ISO8601FormatStyle().parse(text), isCalendarDate(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time: \(text)")
            }
            return date
        }
        return d
    }

    /// Whether the `YYYY-MM-DD` a time starts with is a day of the calendar: the ISO 8601 parser
    /// rolls 2030-02-30 over into March, which would store a date nobody typed.
    static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.prefix(10).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month) else {
            return false
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}
