import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Storage

/// Options every control-plane command takes: where the API is and how to authenticate.
struct ClientOptions: ParsableArguments {
    @Option(help: "Admin API base URL (env PORTCULLIS_API_URL; default: the local server's).")
    var apiURL: String?

    @Option(help: "Admin API token (env PORTCULLIS_API_TOKEN; default: read from the local data directory).")
    var token: String?

    @Option(help: "Local data directory to find the server and token in (env PORTCULLIS_DATA_DIR).")
    var dataDir: String?
}

struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: "Output format: table or json.")
    var output: OutputFormat = .table
}

enum OutputFormat: String, ExpressibleByArgument {
    case table, json
}

/// A small JSON client for `/api/v1`.
struct APIClient {
    let baseURL: String
    let token: String

    init(_ options: ClientOptions) throws {
        let env = ProcessInfo.processInfo.environment
        let dataDir = DataDirectory(root: options.dataDir ?? env["PORTCULLIS_DATA_DIR"] ?? "./portcullis-data")
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token = options.token ?? env["PORTCULLIS_API_TOKEN"] ?? read(dataDir.adminTokenPath), !token.isEmpty else {
            throw ValidationError("no API token: pass --token, set PORTCULLIS_API_TOKEN, or run next to the server's data directory")
        }
        var url = options.apiURL ?? env["PORTCULLIS_API_URL"] ?? read(dataDir.apiURLPath) ?? "http://127.0.0.1:8080"
        while url.hasSuffix("/") { url.removeLast() }
        baseURL = url
        self.token = token
    }

    /// Sends a request and returns the JSON body; API errors exit with their message.
    func send(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws -> Any? {
        var request = HTTPClientRequest(url: baseURL + "/api/v1" + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let client = HTTPClient.shared
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(120))
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw CLIError("cannot reach the Portcullis API at \(baseURL): \(error)")
        }
        let data = Data(bytes.readableBytesView)
        let json = data.isEmpty ? nil : try? JSONSerialization.jsonObject(with: data)
        guard (200..<300).contains(response.status.code) else {
            let message = (json as? [String: Any])?["error"] as? String ?? "HTTP \(response.status.code)"
            throw CLIError(message)
        }
        return json
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
