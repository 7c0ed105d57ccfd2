import ControlPlane
import Hummingbird
import ImageTooling
import OCI
import PortcullisAPI

extension AdminRoutes {
    func registerTooling(on api: RouterGroup<PortcullisContext>) {
        route(API.lint, on: api) { call in
            let app = try await control.app(slug: try call.parameter("app"))
            let body = call.body
            guard let archive = Base64.decode(body.chart) else { throw AdminError.badRequest("chart is not base64") }
            let findings = try await control.lint(archive, name: body.name ?? "chart.tgz", app: app.slug, proxyHost: body.proxyHost ?? publicHost(call.request))
            return LintResult(findings: findings.map(LintFindingBody.init))
        }
        route(API.findImages, on: api) { call in
            let body = call.body
            guard body.kind == nil || body.kind == "values" || body.kind == "manifests" else {
                throw AdminError.badRequest("kind must be values or manifests")
            }
            let found = try control.findImages(yaml: body.yaml, values: body.kind == "values", name: body.name ?? "input.yaml")
            return found.map { FoundImage(file: $0.file, line: $0.line, image: $0.reference.description, context: $0.context) }
        }
    }
}

extension LintFindingBody {
    init(_ f: LintFinding) {
        self.init(file: f.file, line: f.line, severity: f.severity.rawValue, message: f.message)
    }
}
