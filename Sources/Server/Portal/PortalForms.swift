/// A form of the vendor portal: its name in the templates, and its fields with the words that
/// mark a refusal as being about that field (the control plane says what was wrong in words).
struct PortalForm: Sendable {
    struct Field: Sendable {
        let name: String
        let words: [String]
    }

    let name: String
    /// In the order they are matched: the more specific first.
    let fields: [Field]

    /// Never put back into a page.
    static let unkept: Set<String> = ["csrf", "secret", "password"]

    func refusal(_ message: String, typed: [String: String]) -> FormRefusal {
        let lower = message.lowercased()
        let field = fields.first { $0.words.contains { lower.contains($0) } }?.name
        return FormRefusal(form: name, message: message, field: field,
                           typed: typed.filter { !Self.unkept.contains($0.key) && !$0.key.hasPrefix(":") })
    }

    private init(_ name: String, _ fields: [(String, [String])]) {
        self.name = name
        self.fields = fields.map { Field(name: $0.0, words: $0.1) }
    }

    static let newApp = PortalForm("newApp", [("slug", ["slug", "app "]), ("name", ["name"])])
    static let newCustomer = PortalForm("newCustomer", [
        ("name", ["customer named", "customer name", "name"]), ("email", ["email"]), ("channel", ["channel"]),
        ("type", ["license type", "type"]), ("days", ["expir", "days"]), ("app", ["app"]),
    ])
    static let editCustomer = PortalForm("editCustomer", [
        ("email", ["email"]), ("channel", ["channel"]), ("type", ["license type", "type"]), ("days", ["expir", "days"]),
        ("name", ["name"]),
    ])
    static let addRegistry = PortalForm("addRegistry", [
        ("region", ["region"]), ("username", ["credentials", "username", "access key"]), ("kind", ["kind", "provider"]),
        ("endpoint", ["endpoint", "resolve", "address", "host", "url"]), ("name", ["name", "slug"]), ("app", ["app"]),
    ])
    static let newRelease = PortalForm("newRelease", [
        ("promote", ["channel"]), ("version", ["version", "semver"]), ("chart", ["chart", "archive", "yaml", "tgz"]),
        ("notes", ["notes"]),
    ])
    static let promote = PortalForm("promote", [
        ("sequence", ["sequence", "release "]), ("channel", ["channel"]), ("version", ["version", "semver"]), ("notes", ["notes"]),
    ])
    static let newToken = PortalForm("newToken", [("scope", ["scope"]), ("name", ["name"])])
    static let newDomain = PortalForm("newDomain", [("app", ["app "]), ("name", ["domain", "name", "host"])])
}

/// A form the control plane refused, shown again on its page: the message next to the field it
/// is about (else above the form), and what was typed kept.
struct FormRefusal: Sendable {
    let form: String
    let message: String
    let field: String?
    let typed: [String: String]

    /// What the page's template reads: `<form>.errors.<field or "form">` and `<form>.typed.<field>`.
    var values: [String: Any] { [form: ["errors": [field ?? "form": message], "typed": typed]] }

    /// `options` (values) with the one that was typed in `field` selected (else `fallback`).
    func options(_ field: String, _ options: [String], fallback: String? = nil) -> [[String: Any]] {
        Self.options(options, selected: typed[field] ?? fallback)
    }

    static func options(_ options: [String], selected: String?) -> [[String: Any]] {
        options.map { ["value": $0, "label": $0.isEmpty ? "(none)" : $0, "selected": $0 == selected] }
    }
}

extension Optional where Wrapped == FormRefusal {
    /// The page's values for a refusal of `form`, or none.
    func values(for form: PortalForm) -> [String: Any] {
        guard let self, self.form == form.name else { return [:] }
        return self.values
    }
}
