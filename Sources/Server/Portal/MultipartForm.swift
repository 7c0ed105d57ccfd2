import Foundation
import NIOCore

/// `multipart/form-data` as browsers send a form with file inputs: the parts by name, file
/// contents as bytes. Bounded by the caller's body limit; nothing here streams.
struct MultipartForm: Sendable {
    struct Part: Sendable {
        var name: String
        var filename: String?
        var data: [UInt8]
        var text: String { String(decoding: data, as: UTF8.self) }
    }

    var parts: [Part]

    func field(_ name: String) -> String? { parts.first { $0.name == name && $0.filename == nil }?.text }
    func files(_ name: String) -> [Part] { parts.filter { $0.name == name && $0.filename != nil && !$0.data.isEmpty } }

    /// Nil when `contentType` is not multipart/form-data with a boundary or the body is malformed.
    static func parse(_ body: ByteBuffer, contentType: String) -> MultipartForm? {
        guard contentType.lowercased().hasPrefix("multipart/form-data"),
              let range = contentType.range(of: "boundary=") else { return nil }
        var boundary = String(contentType[range.upperBound...]).split(separator: ";").first.map(String.init) ?? ""
        boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        guard !boundary.isEmpty, boundary.count <= 200 else { return nil }
        let bytes = Array(body.readableBytesView)
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [Part] = []
        var cursor = 0
        guard let first = bytes.firstRange(of: delimiter) else { return nil }
        cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the form, "\r\n" starts a part.
            if bytes[cursor...].starts(with: Array("--".utf8)) { break }
            guard bytes[cursor...].starts(with: Array("\r\n".utf8)) else { return nil }
            let headerStart = cursor + 2
            guard let headerEnd = bytes[headerStart...].firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
            let headers = String(decoding: bytes[headerStart..<headerEnd.lowerBound], as: UTF8.self)
            let dataStart = headerEnd.upperBound
            guard let next = bytes[dataStart...].firstRange(of: Array("\r\n".utf8) + delimiter) else { return nil }
            guard let name = Self.parameter("name", in: headers) else { return nil }
            parts.append(Part(name: name, filename: Self.parameter("filename", in: headers), data: Array(bytes[dataStart..<next.lowerBound])))
            cursor = next.upperBound
        }
        return MultipartForm(parts: parts)
    }

    /// `name="…"` from a part's Content-Disposition header.
    static func parameter(_ key: String, in headers: String) -> String? {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            guard let range = line.range(of: "\(key)=\"") else { continue }
            let rest = line[range.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
        return nil
    }
}
