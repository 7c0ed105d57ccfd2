import ControlPlane
import Hummingbird
import Licensing
import PortcullisAPI

extension AdminRoutes {
    func registerLicenseFields(on api: RouterGroup<PortcullisContext>) {
        api.post("/apps/:app/license-fields") { request, context in
            let body = try await decode(LicenseFieldBody.self, request, context)
            guard let type = LicenseFieldType(rawValue: body.type.lowercased()) else {
                throw AdminError.badRequest("type is integer, string, boolean or text")
            }
            let field = try await control.createLicenseField(app: try context.parameters.require("app"), LicenseFieldDefinition(
                name: body.name, title: body.title ?? body.name, description: body.description ?? "", type: type,
                defaultValue: body.default, hidden: body.hidden ?? false))
            return try json(LicenseFieldBody(field), status: .created)
        }
        api.get("/apps/:app/license-fields") { _, context in
            try json(try await control.licenseFieldList(app: try context.parameters.require("app")).map(LicenseFieldBody.init))
        }
        api.delete("/apps/:app/license-fields/:name") { _, context in
            try await control.removeLicenseField(app: try context.parameters.require("app"), name: try context.parameters.require("name"))
            return Response(status: .noContent)
        }
        api.get("/customers/:id/license") { _, context in
            let document = try await control.licenseDocument(customerID: try context.parameters.require("id"))
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: .init(string: document)))
        }
        api.get("/apps/:app/public-key") { _, context in
            try json(PublicKeyBody(pem: try await control.appPublicKey(app: try context.parameters.require("app"))))
        }
    }
}

extension LicenseFieldBody {
    init(_ d: LicenseFieldDefinition) {
        self.init(name: d.name, title: d.title, description: d.description, type: d.type.rawValue, default: d.defaultValue, hidden: d.hidden)
    }
}
