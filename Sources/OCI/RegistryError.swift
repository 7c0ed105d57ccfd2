/// The error codes of the OCI distribution spec (plus the Docker extensions clients know),
/// each with the HTTP status it travels with.
public enum RegistryErrorCode: String, Sendable, Codable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case tagInvalid = "TAG_INVALID"
    case sizeInvalid = "SIZE_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    case rangeInvalid = "RANGE_INVALID"
    case tooLarge = "TOO_LARGE"
    /// A `n` (page size) of a tag list that is no count.
    case paginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
    /// Upstream trouble: the vendor's registry failed or could not be reached.
    case unavailable = "UNAVAILABLE"

    public var status: Int {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: 404
        case .unauthorized: 401
        case .denied: 403
        case .unsupported: 405
        case .tooManyRequests: 429
        case .rangeInvalid: 416
        case .tooLarge: 413
        case .unavailable: 502
        default: 400
        }
    }
}

/// An error a registry client is meant to see, rendered as OCI error JSON.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: RegistryErrorCode
    public var message: String
    /// Overrides `code.status` where the spec allows another status (e.g. 503 for an upstream outage).
    public var status: Int
    /// Seconds a client should wait before retrying (`Retry-After`), when known.
    public var retryAfter: Int?

    public init(_ code: RegistryErrorCode, _ message: String, status: Int? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status ?? code.status
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// `{"errors":[{"code":…,"message":…}]}`
    public var jsonBody: String {
        #"{"errors":[{"code":"\#(code.rawValue)","message":\#(JSONString.quote(message))}]}"#
    }
}

public enum JSONString {
    /// Quotes a string as a JSON string literal; `htmlSafe` also escapes `<`, `>`, `&` and the
    /// line and paragraph separators, as Go's encoder does by default.
    public static func quote(_ s: String, htmlSafe: Bool = false) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || (htmlSafe && ["<", ">", "&", "\u{2028}", "\u{2029}"].contains(scalar)):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
