import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import PortcullisAPI
import Storage

/// Options every control-plane command takes: where the API is and how to authenticate.
struct ClientOptions: ParsableArguments {
    @Option(help: "Admin API base URL (env PORTCULLIS_API_URL; default: the local server's).")
    var apiURL: String?

    @Option(help: "Admin API token (env PORTCULLIS_API_TOKEN; default: read from the local data directory).")
    var token: String?

    @Option(help: "Local data directory to find the server and token in (env PORTCULLIS_DATA_DIR).")
    var dataDir: String?

    @Option(help: "PEM file of the CA that signed the server's certificate (env SSL_CERT_FILE; default: the system's).")
    var caCert: String?
}

struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: "Output format: table or json.")
    var output: OutputFormat = .table
}

enum OutputFormat: String, ExpressibleByArgument {
    case table, json
}

/// A typed client for `/api/v1`: the request and response types are the server's own.
struct APIClient {
    let baseURL: String
    let token: String
    /// A CA bundle to trust instead of the system's (a private CA).
    let caCert: String?

    init(_ options: ClientOptions) throws {
        let env = ProcessInfo.processInfo.environment
        let dataDir = DataDirectory(root: options.dataDir ?? env["PORTCULLIS_DATA_DIR"] ?? "./portcullis-data")
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token = options.token ?? env["PORTCULLIS_API_TOKEN"] ?? read(dataDir.adminTokenPath), !token.isEmpty else {
            throw CLIError("""
                no API token: pass --token, set PORTCULLIS_API_TOKEN, or point --data-dir (or PORTCULLIS_DATA_DIR) at the server's \
                data directory (looked for \(dataDir.adminTokenPath))
                """)
        }
        var url = options.apiURL ?? env["PORTCULLIS_API_URL"] ?? read(dataDir.apiURLPath) ?? "http://127.0.0.1:8080"
        while url.hasSuffix("/") { url.removeLast() }
        baseURL = url
        self.token = token
        caCert = options.caCert ?? env["SSL_CERT_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let caCert, !FileManager.default.isReadableFile(atPath: caCert) {
            throw ValidationError("cannot read the CA certificate \(caCert)")
        }
    }

    /// Calls an endpoint that takes no body, its path parameters filled in order.
    func call<Answer>(_ endpoint: Endpoint<Nothing, Answer>, _ values: String..., query: [(String, String?)] = []) async throws -> Answer {
        try await answer(endpoint, try await exchange(endpoint.method, endpoint.path(filling: values, query: query), body: nil))
    }

    /// Calls an endpoint with a JSON body.
    func call<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, _ values: String..., query: [(String, String?)] = [],
                            body: Body) async throws -> Answer {
        try await answer(endpoint, try await exchange(endpoint.method, endpoint.path(filling: values, query: query), body: body))
    }

    /// Calls an endpoint that answers a document, not JSON.
    func call(_ endpoint: Endpoint<Nothing, Document>, _ values: String...) async throws -> Document {
        Document(text: String(buffer: try await exchange(endpoint.method, endpoint.path(filling: values), body: nil)))
    }

    private func answer<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, _ bytes: ByteBuffer) async throws -> Answer {
        if let nothing = Nothing() as? Answer { return nothing }
        do {
            return try APICoding.decoder.decode(Answer.self, from: Data(bytes.readableBytesView))
        } catch {
            throw CLIError("the Portcullis API at \(baseURL) sent an answer this CLI does not understand (is it the same version?)")
        }
    }

    private func exchange(_ method: APIMethod, _ path: String, body: (any Encodable)?) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: baseURL + API.prefix + path)
        request.method = HTTPMethod(rawValue: method.rawValue)
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try APICoding.encoder.encode(body)))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        let client = makeHTTPClient()
        do {
            response = try await client.execute(request, timeout: .seconds(120))
            bytes = try await response.body.collect(upTo: 64 << 20)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw CLIError("cannot reach the Portcullis API at \(baseURL): \(Self.explain(error, caCert: caCert))")
        }
        guard (200..<300).contains(response.status.code) else {
            let message = (try? APICoding.decoder.decode(APIErrorBody.self, from: Data(bytes.readableBytesView)))?.error
            throw CLIError(message ?? "HTTP \(response.status.code)")
        }
        return bytes
    }
}

extension APIClient {
    func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        if let caCert {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caCert)
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Says what to do about the failures people meet: an untrusted certificate, a refused connection.
    static func explain(_ error: any Error, caCert: String?) -> String {
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return caCert == nil
                ? "its TLS certificate is not trusted (pass --ca-cert with the CA that signed it, or set SSL_CERT_FILE)"
                : "its TLS certificate is not signed by \(caCert!)"
        }
        if text.contains("connectTimeout") || text.contains("connectionRefused") || text.contains("Connection refused") {
            return "connection refused or timed out (is the server running, and is the URL right?)"
        }
        return text
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
