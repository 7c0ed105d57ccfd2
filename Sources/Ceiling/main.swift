import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A bare Hummingbird route answering every `/v2/` GET with the same bytes: the ceiling the
/// benchmark measures Portcullis's manifest path against (same framework, same machine, none
/// of Portcullis's work). Not part of the product; built beside it for `bench/run`.
///
///     portcullis-ceiling --port N --body FILE --content-type T --digest D
@main
struct Ceiling {
    static func main() async throws {
        var options: [String: String] = [:]
        var args = CommandLine.arguments.dropFirst()
        while let key = args.popFirst(), let value = args.popFirst() { options[key] = value }
        guard let port = options["--port"].flatMap(Int.init), let path = options["--body"],
              let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("usage: portcullis-ceiling --port N --body FILE [--content-type T] [--digest D]\n".utf8))
            exit(2)
        }
        let body = ByteBuffer(bytes: data)
        let contentType = options["--content-type"] ?? "application/json"
        let digest = options["--digest"] ?? ""
        let router = Router()
        router.get("/v2/**") { _, _ in
            Response(status: .ok, headers: [.contentType: contentType, .contentLength: String(body.readableBytes),
                                            HTTPField.Name("Docker-Content-Digest")!: digest],
                     body: .init(byteBuffer: body))
        }
        router.get("/healthz") { _, _ in "ok\n" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }
}
