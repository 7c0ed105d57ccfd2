import Foundation

public struct LicenseFieldBody: Codable, Sendable, Equatable {
    public var name: String
    public var title: String?
    public var description: String?
    /// `integer`, `string`, `boolean` or `text`.
    public var type: String
    public var `default`: String?
    public var hidden: Bool?

    public init(name: String, title: String?, description: String?, type: String, default: String?, hidden: Bool?) {
        self.name = name
        self.title = title
        self.description = description
        self.type = type
        self.default = `default`
        self.hidden = hidden
    }
}

public struct PublicKeyBody: Codable, Sendable, Equatable {
    public var pem: String
    public init(pem: String) { self.pem = pem }
}
