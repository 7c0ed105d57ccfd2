import ControlPlane
import Foundation
import Hosting
import Hummingbird
import NIOCore
import PortcullisAPI
import Proxy

/// The vendor control plane under `/api/v1`, behind the admin token: thin handlers that
/// decode a request type, call the control plane, and encode a response type.
struct AdminRoutes: Sendable {
    let c: Components
    let adminTokenHash: String

    var control: ControlPlane { c.control }
    var collector: HostedGarbageCollector { c.collector }
    var chartCollector: DeliveredChartCollector { c.chartCollector }
    var evictor: CacheEvictor { c.evictor }

    func register(on router: Router<PortcullisContext>) {
        let api = router.group(RouterPath(API.prefix))
            .add(middleware: AdminAuthMiddleware(adminTokenHash: adminTokenHash))
            .add(middleware: AdminErrorMiddleware(logger: c.logger))
            .add(middleware: AdminAuditMiddleware(control: c.control))
        registerApps(on: api)
        registerRegistries(on: api)
        registerCustomers(on: api)
        registerTokens(on: api)
        registerReleases(on: api)
        registerTooling(on: api)
        registerDomains(on: api)
        registerUsers(on: api)
        registerWebhooks(on: api)
        registerLicenseFields(on: api)
        registerMaintenance(on: api)
    }

    /// Registers an endpoint of the table: the body is decoded to the endpoint's request type
    /// (none for `Nothing`), the answer encoded with the endpoint's status (no body for `Nothing`).
    func route<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, on api: RouterGroup<PortcullisContext>,
                             _ handle: @escaping @Sendable (APICall<Body>) async throws -> Answer) {
        respond(endpoint, on: api) { call in try endpoint.response(try await handle(call)) }
    }

    /// Registers an endpoint whose answer is not JSON (a document, a stream).
    func respond<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, on api: RouterGroup<PortcullisContext>,
                               _ handle: @escaping @Sendable (APICall<Body>) async throws -> Response) {
        api.on(RouterPath(endpoint.path), method: HTTPRequest.Method(rawValue: endpoint.method.rawValue)!) { request, context in
            try await handle(try await APICall.decoding(endpoint, request, context))
        }
    }

    func publicHost(_ request: Request) -> String {
        PublicAddress(configuration: c.configuration, request: request).host
    }
}

extension Endpoint {
    /// `answer` as the endpoint sends it: JSON with the endpoint's status, no body for `Nothing`.
    func response(_ answer: Answer) throws -> Response {
        let status = HTTPResponse.Status(code: self.status)
        guard Answer.self != Nothing.self else { return Response(status: status) }
        let data = try APICoding.encoder.encode(answer)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Errors of the admin layer itself (the body, not the operation).
enum AdminError: Error {
    case badRequest(String)
    case tooLarge
}

/// One request to an endpoint of the table, its body decoded.
struct APICall<Body: Sendable>: Sendable {
    let request: Request
    let context: PortcullisContext
    let body: Body

    /// A request to `endpoint`, its body decoded to the endpoint's request type (none for
    /// `Nothing`), within the endpoint's body limit.
    static func decoding<Answer>(_ endpoint: Endpoint<Body, Answer>, _ request: Request, _ context: PortcullisContext) async throws
        -> APICall {
        let body: Body
        if let nothing = Nothing() as? Body { body = nothing } else {
            body = try await JSONBody.decode(Body.self, request, context, limit: endpoint.bodyLimit)
        }
        return APICall(request: request, context: context, body: body)
    }

    /// A path parameter the endpoint's path names.
    func parameter(_ name: String) throws -> String {
        try context.parameters.require(name)
    }

    /// A query parameter, nil when absent.
    func query(_ name: String) -> String? {
        request.uri.queryParameters[name[...]].map(String.init)
    }

    /// A whole-number query parameter within `range`, `fallback` when absent; anything else is
    /// refused, not quietly clamped.
    func count(_ name: String, fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = query(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw AdminError.badRequest("?\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// Every value of a repeated query parameter.
    func queryAll(_ name: String) -> [String] {
        request.uri.queryParameters.getAll(name).map { String($0) }
    }
}

/// A request's JSON body, decoded with errors that name the field at fault.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: PortcullisContext, limit: Int? = nil) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit ?? context.maxUploadSize)
        } catch {
            throw AdminError.tooLarge
        }
        // No text Portcullis keeps can hold a NUL: PostgreSQL refuses one and SQLite cuts the text
        // there (a name would be stored shorter than it was checked).
        if buffer.withUnsafeReadableBytes(containsNUL) { throw AdminError.badRequest("text cannot contain NUL characters (\\u0000)") }
        do {
            return try APICoding.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let DecodingError.keyNotFound(key, _) {
            throw AdminError.badRequest("missing field \(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw AdminError.badRequest("invalid value for \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
            throw AdminError.badRequest("invalid value for \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw AdminError.badRequest("request body must be a JSON object")
        }
    }

    /// Whether JSON text encodes a NUL character: `\u0000` after an odd run of backslashes
    /// (an even run is escaped backslashes followed by the letters), or a raw NUL byte.
    static func containsNUL(_ text: UnsafeRawBufferPointer) -> Bool {
        let backslash = UInt8(ascii: "\\"), escape = Array("u0000".utf8)
        var i = 0
        while i < text.count {
            if text[i] == 0 { return true }
            guard text[i] == backslash else {
                i += 1
                continue
            }
            var run = 0
            while i < text.count, text[i] == backslash { run += 1; i += 1 }
            if run % 2 == 1, i + escape.count <= text.count, escape.indices.allSatisfy({ text[i + $0] == escape[$0] }) { return true }
        }
        return false
    }
}
