import ArgumentParser
import AsyncHTTPClient
import Connectivity
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import PortcullisAPI
import Storage
import Upstream

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

    @Option(help: "How long to wait for the API's answer, e.g. 30s (env PORTCULLIS_API_TIMEOUT; default 2m).")
    var timeout: String?
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
    /// Where `caCert` was named: `--ca-cert` or `SSL_CERT_FILE`.
    let caCertSource: String
    /// How long one call waits for the whole answer: a server (or something in front of it)
    /// that accepts the connection and never answers would otherwise hold a script this long.
    let answerTimeout: TimeInterval
    /// `answerTimeout` as it was given, for messages.
    let answerTimeoutText: String

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
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https",
              parts.host?.isEmpty == false, parts.query == nil, parts.fragment == nil, parts.path.isEmpty else {
            throw CLIError("the API URL \(url.debugDescription) is not the server's base URL: http(s)://host[:port], no path (--api-url or PORTCULLIS_API_URL)")
        }
        baseURL = url
        self.token = token
        if let given = options.timeout ?? env["PORTCULLIS_API_TIMEOUT"] {
            let option = options.timeout != nil ? "--timeout" : "PORTCULLIS_API_TIMEOUT"
            let seconds = try Duration.parse(given, option: option)
            guard seconds >= 0.001, seconds <= DurationLimit.longest else {
                throw CLIError("\(option) must be at least 1ms and at most a hundred years")
            }
            (answerTimeout, answerTimeoutText) = (seconds, given)
        } else {
            (answerTimeout, answerTimeoutText) = (120, "2m")
        }
        // SSL_CERT_FILE is for TLS: a plain-HTTP server is reached whatever it names.
        if let given = options.caCert {
            (caCert, caCertSource) = (given, "--ca-cert")
        } else if scheme == "https", let fromEnvironment = env["SSL_CERT_FILE"], !fromEnvironment.isEmpty {
            (caCert, caCertSource) = (fromEnvironment, "SSL_CERT_FILE")
        } else {
            (caCert, caCertSource) = (nil, "")
        }
        if let caCert {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: caCert, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let text = try? String(contentsOfFile: caCert, encoding: .utf8) else {
                throw CLIError("cannot read the CA certificate \(caCert) (\(caCertSource)): no such file, a directory, or not readable")
            }
            guard text.contains("-----BEGIN CERTIFICATE-----") else {
                throw CLIError("the CA certificate \(caCert) (\(caCertSource)) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
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
            response = try await client.execute(request, timeout: .milliseconds(Int64(answerTimeout * 1000)))
            bytes = try await response.body.collect(upTo: 64 << 20)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            if let timeout = error as? HTTPClientError, timeout == .deadlineExceeded {
                throw CLIError("no answer from the Portcullis API at \(baseURL) within \(answerTimeoutText) "
                               + "(--timeout or PORTCULLIS_API_TIMEOUT to wait longer)")
            }
            throw CLIError("cannot reach the Portcullis API at \(baseURL): \(explain(error))")
        }
        guard (200..<300).contains(response.status.code) else {
            if let message = (try? APICoding.decoder.decode(APIErrorBody.self, from: Data(bytes.readableBytesView)))?.error {
                throw CLIError(message)
            }
            // Not Portcullis's error JSON: something in between (a proxy, a load balancer) answered.
            throw CLIError("HTTP \(response.status.code) from \(baseURL), not an answer from the Portcullis API: is the URL the server's, "
                           + "and is what stands in front of it (a proxy, a load balancer) passing requests through?")
        }
        return bytes
    }
}

extension APIClient {
    func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        // A refused connection or an untrusted certificate is an answer: said at once, not retried
        // until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(10))
        if let caCert {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caCert)
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Says what happened and what to do about it (`ConnectionFailure` says what happened).
    func explain(_ error: any Error) -> String {
        Self.explain(error, caCert: caCert, caCertSource: caCertSource)
    }

    static func explain(_ error: any Error, caCert: String?, caCertSource: String = "--ca-cert") -> String {
        let failure = ConnectionFailure(error)
        let said = failure.describe(caFile: caCert.map { "\($0) (\(caCertSource))" })
        switch failure {
        case .untrustedCertificate where caCert == nil:
            return said + "; pass --ca-cert with the CA that signed it, or set SSL_CERT_FILE"
        case .untrustedCertificate, .certificateNotForHost:
            return said + "; check the CA file and that the URL names the host the certificate was issued for"
        case .refused, .timedOut:
            return said + "; is the server running, and is the URL right?"
        default:
            return said
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
