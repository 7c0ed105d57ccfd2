import Access
import ControlPlane
import Foundation
import Hosting
import Hummingbird
import Licensing
import OCI
import PortcullisAPI
import Storage

/// What the in-cluster SDK calls (`/sdk/v1`, see `SDKAPI`): its license as it stands, the
/// releases of its channel, and instance check-ins. Authenticated with the license
/// (Basic, password the license ID); `AccessRules.sdk` decides.
struct SDKRoutes {
    let c: Components

    func register(on router: Router<PortcullisContext>) {
        let sdk = router.group(RouterPath(SDKAPI.prefix))
        route(SDKAPI.license, on: sdk) { _, license in
            let answer = try await c.control.sdkLicense(license)
            let view = answer.view
            return SDKLicenseBody(
                document: answer.document, status: view.standing.label, expiresAt: view.customer.expiresAt,
                licenseType: view.customer.type.rawValue, customerID: view.customer.id, customerName: view.customer.name,
                customerEmail: view.customer.email, appSlug: view.app.slug, appName: view.app.name, channelID: answer.channel?.id,
                channelName: view.customer.channel,
                fields: Dictionary(answer.fields.map { ($0.definition.name, LicenseFieldValueBody($0)) }, uniquingKeysWith: { a, _ in a }))
        }
        route(SDKAPI.updates, on: sdk) { call, license in
            let after = call.query("channelSequence").flatMap { Int($0) }
            let running = call.query("releaseSequence").flatMap { Int($0) }
            return SDKUpdatesBody(channelReleases: try await c.control.channelReleases(license, after: after, runningRelease: running,
                                                                                      runningChannelID: call.query("channelID"))
                .map(ChannelReleaseBody.init))
        }
        route(SDKAPI.instances, on: sdk, reportingFor: { $0.appSlug ?? "" }) { call, license in
            let report = call.body
            if let problem = InstanceReportRules.problem(of: report) { throw HTTPError(.badRequest, message: problem) }
            try await c.control.recordCheckIn(license, InstanceRecord(
                customerID: license.customerID, instanceID: report.instanceID, appID: license.appID, clusterID: report.clusterID,
                firstSeenAt: Date(), lastCheckinAt: Date(), versionLabel: report.versionLabel, releaseSequence: report.releaseSequence,
                channelSequence: report.channelSequence, channelID: report.channelID, appStatus: report.appStatus,
                k8sVersion: report.k8sVersion, k8sDistribution: report.k8sDistribution,
                customMetrics: (report.customMetrics ?? [:]).mapValues(Self.metricText), tags: report.tags ?? [:]))
            return Nothing()
        }
    }

    /// A metric as stored: its JSON text, so its type comes back with it.
    static func metricText(_ value: JSONScalar) -> String {
        (try? String(decoding: JSONCoding.encoder.encode(value), as: UTF8.self)) ?? value.description
    }

    /// Registers one endpoint: the license authenticated and the decision taken before the handler runs.
    private func route<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, on group: RouterGroup<PortcullisContext>,
                                     reportingFor app: (@Sendable (Body) -> String)? = nil,
                                     _ handle: @escaping @Sendable (APICall<Body>, License) async throws -> Answer) {
        group.on(RouterPath(endpoint.path), method: HTTPRequest.Method(rawValue: endpoint.method.rawValue)!) { request, context in
            do {
                let principal = try await LoginThrottling(c: c).authenticate(request.headers[.authorization], request, context: context).principal
                let call = try await APICall.decoding(endpoint, request, context)
                switch AccessRules.sdk(principal, reportingFor: app?(call.body)) {
                case .allow: break
                case .unauthorized(let message): throw TokenRefusal(message: message)
                case .denied(let message), .unsupported(let message): throw AccessRefusal.denied(message)
                case .nameUnknown: throw HTTPError(.notFound)
                }
                guard case .customer(let license) = principal else { throw AccessRefusal.denied("a license is required") }
                return try endpoint.response(try await handle(call, license))
            } catch {
                let answer = ClientFacingError(error)
                if answer.isInternal { c.logger.error("SDK request failed", metadata: ["error": "\(error)"]) }
                return answer.apiResponse
            }
        }
    }
}

extension LicenseFieldValueBody {
    init(_ field: SignedLicenseField) {
        let d = field.definition
        let value: JSONScalar = switch d.type {
        case .integer: Int(field.value).map { .integer($0) } ?? .string(field.value)
        case .boolean: .boolean(field.value == "true")
        case .string, .text: .string(field.value)
        }
        self.init(name: d.name, title: d.title, description: d.description, value: value, valueType: d.type.valueType,
                  signature: .init(v1: field.signature), isHidden: d.hidden ? true : nil)
    }
}

extension ChannelReleaseBody {
    init(_ p: ReleasePlacement) {
        self.init(versionLabel: p.versionLabel, releaseSequence: p.releaseSequence, channelSequence: p.channelSequence, createdAt: p.createdAt,
                  releaseNotes: p.releaseNotes)
    }
}
