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
    var evictor: CacheEvictor { c.evictor }

    func register(on router: Router<PortcullisContext>) {
        let api = router.group("/api/v1")
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

    /// Decodes a JSON body, with errors that name the field at fault.
    func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: PortcullisContext, limit: Int? = nil) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit ?? context.maxUploadSize)
        } catch {
            throw AdminError.tooLarge
        }
        do {
            return try APICoding.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let DecodingError.keyNotFound(key, _) {
            throw AdminError.badRequest("missing field \(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw AdminError.badRequest("invalid value for \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw AdminError.badRequest("request body must be a JSON object")
        }
    }

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APICoding.encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func publicHost(_ request: Request) -> String {
        PublicAddress(configuration: c.configuration, request: request).host
    }
}

/// Errors of the admin layer itself (the body, not the operation).
enum AdminError: Error {
    case badRequest(String)
    case tooLarge
}
