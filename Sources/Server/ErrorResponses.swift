import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OCI

extension Response {
    /// An OCI error body with the status its code travels with.
    static func registryError(_ error: RegistryError, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        if let retryAfter = error.retryAfter, headers[.retryAfter] == nil { headers[.retryAfter] = String(retryAfter) }
        return Response(status: .init(code: error.status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: error.jsonBody)))
    }

    /// A JSON body for the admin API.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONCoding.encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `{"error": "…"}` for the admin API.
    static func apiError(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = #"{"error":\#(JSONString.quote(message))}"#
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

enum JSONCoding {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
