import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Backends
import Storage
import Testing
import Upstream
import PortcullisAPI
@testable import Server

/// Runs `body` against an in-process server with a fresh data directory.
func withServer(allowPrivateUpstreams: Bool = true, _ body: @Sendable (any TestClientProtocol, _ adminToken: String) async throws -> Void) async throws {
    let dir = NSTemporaryDirectory() + "server-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var config = ServerConfiguration()
    config.dataDirectory = dir
    config.publicURL = "http://registry.test"
    // The tests register registries on 127.0.0.1, as an on-premises vendor would with the opt-in.
    config.allowPrivateUpstreams = allowPrivateUpstreams
    let data = DataDirectory(root: dir)
    try data.prepare()
    let logger = Logger(label: "test")
    let storage = try await StorageBackend.open(.embedded(data), logger: logger)
    let http = HTTPClientTransport.makeHTTPClient()
    let secrets = ServerSecrets(secretKey: try data.secretKey(), adminToken: try data.adminToken())
    let components = try await PortcullisServer.makeComponents(config, secrets: secrets, storage: storage, http: http, logger: logger)
    defer { Task { await components.outbound.shutdown() } }
    let fills = Task { try await components.fills.run() }
    let token = try data.adminToken()
    let app = try PortcullisServer.makeApplication(components, adminToken: token)
    do {
        try await app.test(.router) { client in try await body(client, token) }
    } catch {
        fills.cancel()
        try? await http.shutdown()
        try? await storage.close()
        throw error
    }
    fills.cancel()
    try await http.shutdown()
    try await storage.close()
}

func json(_ buffer: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
}

func errorCode(_ buffer: ByteBuffer) -> String? {
    ((json(buffer)["errors"] as? [[String: Any]])?.first?["code"]) as? String
}

func basic(_ password: String) -> String {
    "Basic " + Data("user:\(password)".utf8).base64EncodedString()
}

@Suite struct RegistryAuthTests {
    @Test func anonymousGetsABearerChallenge() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/v2/", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="http://registry.test/v2/token",service="registry.test""#)
                #expect(errorCode(response.body) == "UNAUTHORIZED")
            }
            try await client.execute(uri: "/v2/proxy/acme/up/org/app/manifests/v1", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasSuffix(#"scope="repository:proxy/acme/up/org/app:pull""#) == true)
            }
        }
    }

    @Test func badCredentialsNeverBecomeAnonymous() async throws {
        try await withServer { client, _ in
            for header in [basic("no-such-license-000000"), "Bearer garbage", "Basic %%%"] {
                try await client.execute(uri: "/v2/", method: .get, headers: [.authorization: header]) { response in
                    #expect(response.status == .unauthorized, "\(header)")
                    #expect(errorCode(response.body) == "UNAUTHORIZED")
                }
            }
            try await client.execute(uri: "/v2/token?scope=repository:proxy/acme/up/x:pull", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v2/token", method: .get, headers: [.authorization: basic("no-such-license-000000")]) { response in
                #expect(response.status == .unauthorized)
                #expect(json(response.body)["token"] == nil)
            }
        }
    }

    @Test func hostilePathsAreNameInvalid() async throws {
        try await withServer { client, token in
            for path in ["/v2/proxy/%2e%2e/%2e%2e/manifests/v1", "/v2/Upper/Case/manifests/v1", "/v2/a%2fb/c/blobs/sha256:00"] {
                try await client.execute(uri: path, method: .get, headers: [.authorization: basic(token)]) { response in
                    #expect(response.status == .badRequest, "\(path)")
                    #expect(errorCode(response.body) == "NAME_INVALID" || errorCode(response.body) == "DIGEST_INVALID", "\(path)")
                }
            }
        }
    }
}

@Suite struct AddressPolicyAtConfigurationTests {
    /// Without the opt-in, a registry or webhook on a private address is refused when it is added,
    /// with what to do about it; a metadata address is refused either way.
    @Test func privateAndMetadataDestinationsAreRefusedWhenAdded() async throws {
        try await withServer(allowPrivateUpstreams: false) { client, token in
            let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            for (path, body) in [("/api/v1/registries", #"{"provider":"other","endpoint":"http://127.0.0.1:9","name":"up","anonymous":true}"#),
                                 ("/api/v1/webhooks", #"{"url":"http://10.0.0.1/hook","events":["customer.created"]}"#)] {
                try await client.execute(uri: path, method: .post, headers: auth, body: ByteBuffer(string: body)) {
                    #expect($0.status == .badRequest)
                    #expect(String(buffer: $0.body).contains("--allow-private-upstreams"), "\(String(buffer: $0.body))")
                }
            }
        }
        try await withServer(allowPrivateUpstreams: true) { client, token in
            let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            try await client.execute(uri: "/api/v1/registries", method: .post, headers: auth,
                                     body: ByteBuffer(string: #"{"provider":"other","endpoint":"http://169.254.169.254","name":"md","anonymous":true}"#)) {
                #expect($0.status == .badRequest)
                #expect(String(buffer: $0.body).contains("metadata"))
            }
        }
    }
}

@Suite struct AdminAPITests {
    @Test func requiresTheAdminToken() async throws {
        try await withServer { client, token in
            try await client.execute(uri: "/api/v1/apps", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/v1/apps", method: .get, headers: [.authorization: "Bearer wrong"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/apps", method: .get, headers: [.authorization: "Bearer " + token]) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test func licenseFlowAndCrossAppIsolation() async throws {
        try await withServer { client, token in
            let auth: HTTPFields = [.authorization: "Bearer " + token, .contentType: "application/json"]
            for slug in ["acme", "other"] {
                try await client.execute(uri: "/api/v1/apps", method: .post, headers: auth, body: ByteBuffer(string: #"{"slug":"\#(slug)"}"#)) {
                    #expect($0.status == .created)
                }
            }
            try await client.execute(uri: "/api/v1/apps", method: .post, headers: auth, body: ByteBuffer(string: #"{"slug":"acme"}"#)) {
                #expect($0.status == .conflict)
            }
            try await client.execute(uri: "/api/v1/apps", method: .post, headers: auth, body: ByteBuffer(string: #"{"slug":"Bad Slug"}"#)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/api/v1/registries", method: .post, headers: auth,
                                     body: ByteBuffer(string: #"{"provider":"other","endpoint":"http://127.0.0.1:9","name":"up","username":"u","secret":"topsecret"}"#)) {
                #expect($0.status == .created)
                #expect(!String(buffer: $0.body).contains("topsecret"))
            }
            let license = try await client.execute(uri: "/api/v1/customers", method: .post, headers: auth,
                                                   body: ByteBuffer(string: #"{"app":"acme","name":"Cust"}"#)) { response in
                #expect(response.status == .created)
                return json(response.body)["licenseId"] as? String ?? ""
            }
            #expect(license.count == 40)

            // A token for another app's repository grants nothing, and using it is denied.
            let token2 = try await client.execute(uri: "/v2/token?service=registry.test&scope=repository:proxy/other/up/x:pull",
                                                  method: .get, headers: [.authorization: basic(license)]) { response in
                #expect(response.status == .ok)
                return json(response.body)["token"] as? String ?? ""
            }
            try await client.execute(uri: "/v2/proxy/other/up/x/manifests/v1", method: .get, headers: [.authorization: "Bearer " + token2]) {
                #expect($0.status == .forbidden)
                #expect(errorCode($0.body) == "DENIED")
            }
            // Same answer whether or not the other app's repository exists.
            try await client.execute(uri: "/v2/proxy/nonexistent/up/x/manifests/v1", method: .get, headers: [.authorization: basic(license)]) {
                #expect($0.status == .forbidden)
            }
            // A name that does not resolve to a registered upstream: no outbound request, NAME_UNKNOWN.
            try await client.execute(uri: "/v2/proxy/acme/unregistered.example.com/x/manifests/v1", method: .get,
                                     headers: [.authorization: basic(license)]) {
                #expect($0.status == .notFound)
                #expect(errorCode($0.body) == "NAME_UNKNOWN")
            }
            // Proxied repositories are read-only.
            try await client.execute(uri: "/v2/proxy/acme/up/x/blobs/uploads/", method: .post, headers: [.authorization: basic(license)]) {
                #expect($0.status == .forbidden || $0.status == .methodNotAllowed)
            }
        }
    }
}

@Suite struct EndpointTableTests {
    /// Every endpoint of the table shared with the CLI is routed: behind the admin token it
    /// answers 401 without one, where a path the table does not have answers 404.
    /// What no route takes is answered in the API's error format: a method the registry API does
    /// not have is 405 `UNSUPPORTED` in OCI error JSON; an unknown admin path is a JSON 404.
    @Test func unmatchedRequestsAnswerInTheAPIsErrorFormat() async throws {
        try await withServer { client, token in
            for method in [HTTPRequest.Method.options, HTTPRequest.Method(rawValue: "PROPFIND")!, .trace] {
                try await client.execute(uri: "/v2/acme/app/manifests/1.0", method: method) {
                    #expect($0.status == .methodNotAllowed, "\(method)")
                    #expect(errorCode($0.body) == "UNSUPPORTED")
                    #expect($0.headers[.allow]?.contains("PATCH") == true)
                }
            }
            let admin: HTTPFields = [.authorization: "Bearer " + token]
            for query in ["limit=-1", "limit=0", "limit=abc"] {
                try await client.execute(uri: "/api/v1/audit?\(query)", method: .get, headers: admin) {
                    #expect($0.status == .badRequest, "\(query)")
                    #expect((json($0.body)["error"] as? String)?.contains("?limit must be a whole number") == true)
                }
            }
            for (uri, method) in [("/api/v1/nope", HTTPRequest.Method.get), ("/api/v1/apps", .put)] {
                try await client.execute(uri: uri, method: method, headers: admin) {
                    #expect($0.status == .notFound)
                    #expect((json($0.body)["error"] as? String)?.contains("no endpoint \(method) \(uri)") == true, "\(String(buffer: $0.body))")
                }
            }
        }
    }

    /// A `Content-Range` that is no range is refused (416), not taken as no range at all.
    @Test func aMalformedContentRangeIsRefused() async throws {
        try await withServer { client, token in
            let admin: HTTPFields = [.authorization: "Bearer " + token, .contentType: "application/json"]
            try await client.execute(uri: "/api/v1/apps", method: .post, headers: admin, body: ByteBuffer(string: #"{"slug":"acme"}"#)) {
                #expect($0.status == .created)
            }
            let location = try await client.execute(uri: "/v2/acme/app/blobs/uploads/", method: .post, headers: [.authorization: basic(token)]) {
                #expect($0.status == .accepted)
                return $0.headers[.location] ?? ""
            }
            for range in ["abc", "5-2", "-3", "0-"] {
                try await client.execute(uri: location, method: .patch, headers: [.authorization: basic(token), .contentRange: range],
                                         body: ByteBuffer(string: "hello")) {
                    #expect($0.status == .rangeNotSatisfiable, "\(range)")
                    #expect(errorCode($0.body) == "RANGE_INVALID")
                }
            }
            try await client.execute(uri: location, method: .patch, headers: [.authorization: basic(token), .contentRange: "0-4"],
                                     body: ByteBuffer(string: "hello")) {
                #expect($0.status == .accepted)
            }
        }
    }

    @Test func everyEndpointOfTheTableIsRouted() async throws {
        try await withServer { client, _ in
            try await client.execute(uri: "/api/v1/no-such-endpoint", method: .get) { #expect($0.status == .notFound) }
            for endpoint in API.all {
                let path = endpoint.path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(":") ? "x" : String($0) }.joined(separator: "/")
                try await client.execute(uri: API.prefix + path, method: HTTPRequest.Method(rawValue: endpoint.method.rawValue)!) {
                    #expect($0.status == .unauthorized, "\(endpoint.method.rawValue) \(endpoint.path) is not routed")
                }
            }
        }
    }
}
