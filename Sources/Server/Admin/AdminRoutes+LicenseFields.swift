import ControlPlane
import Hummingbird
import Licensing
import PortcullisAPI

extension AdminRoutes {
    func registerLicenseFields(on api: RouterGroup<PortcullisContext>) {
        route(API.createLicenseField, on: api) { call in
            let body = call.body
            guard let type = LicenseFieldType(rawValue: body.type.lowercased()) else {
                throw AdminError.badRequest("type is integer, string, boolean or text")
            }
            let field = try await control.createLicenseField(app: try call.parameter("app"), LicenseFieldDefinition(
                name: body.name, title: body.title ?? body.name, description: body.description ?? "", type: type,
                defaultValue: body.default, hidden: body.hidden ?? false))
            return LicenseFieldBody(field)
        }
        route(API.licenseFields, on: api) { call in
            try await control.licenseFieldList(app: try call.parameter("app")).map(LicenseFieldBody.init)
        }
        route(API.removeLicenseField, on: api) { call in
            try await control.removeLicenseField(app: try call.parameter("app"), name: try call.parameter("name"))
            return Nothing()
        }
        respond(API.license, on: api) { call in
            let document = try await control.licenseDocument(customerID: try call.parameter("id"))
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: .init(string: document)))
        }
        route(API.appPublicKey, on: api) { call in
            PublicKeyBody(pem: try await control.appPublicKey(app: try call.parameter("app")))
        }
    }
}

extension LicenseFieldBody {
    init(_ d: LicenseFieldDefinition) {
        self.init(name: d.name, title: d.title, description: d.description, type: d.type.rawValue, default: d.defaultValue, hidden: d.hidden)
    }
}
