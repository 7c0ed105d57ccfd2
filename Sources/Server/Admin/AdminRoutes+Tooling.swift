import ControlPlane
import Hummingbird
import ImageTooling
import OCI
import PortcullisAPI

extension AdminRoutes {
    func registerTooling(on api: RouterGroup<PortcullisContext>) {
        api.post("/apps/:app/lint") { request, context in
            let app = try await control.app(slug: try context.parameters.require("app"))
            let body = try await decode(LintRequest.self, request, context, limit: 32 << 20)
            guard let archive = Base64.decode(body.chart) else { throw AdminError.badRequest("chart is not base64") }
            let findings = try control.lint(archive, name: body.name ?? "chart.tgz", app: app.slug, proxyHost: body.proxyHost ?? publicHost(request))
            return try json(LintResult(findings: findings.map(LintFindingBody.init)))
        }
        api.post("/images/find") { request, context in
            let body = try await decode(FindImagesRequest.self, request, context, limit: 8 << 20)
            let found = try control.findImages(yaml: body.yaml, values: body.kind == "values", name: body.name ?? "input.yaml")
            return try json(found.map { FoundImage(file: $0.file, line: $0.line, image: $0.reference.description, context: $0.context) })
        }
    }
}

extension LintFindingBody {
    init(_ f: LintFinding) {
        self.init(file: f.file, line: f.line, severity: f.severity.rawValue, message: f.message)
    }
}
