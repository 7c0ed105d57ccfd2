import PortcullisAPI

extension AppBody: TableRow {
    static var headers: [String] { ["ID", "SLUG", "NAME", "CREATED"] }
    var cells: [String] { [id, slug, name, Cell.date(createdAt)] }
}

extension RegistryBody: TableRow {
    static var headers: [String] { ["NAME", "PROVIDER", "ENDPOINT", "APPS", "AUTHTYPE", "ALLOW", "ANONYMOUS_PULL"] }
    /// "(all)" where the API's empty app or repository list means every one.
    var cells: [String] {
        [name, provider, endpoint, apps.isEmpty ? "(all)" : Cell.list(apps), authType + (region.map { " (\($0))" } ?? ""),
         allow.isEmpty ? "(all)" : Cell.list(allow), anonymousPull ? "yes" : "no"]
    }
}

extension CustomerBody: TableRow {
    static var headers: [String] { ["ID", "NAME", "APP", "CHANNEL", "TYPE", "STATUS", "EXPIRES", "LICENSE_ID"] }
    var cells: [String] { [id, name, app, channel, type, status, Cell.date(expiresAt), licenseId] }
}

extension PullBody: TableRow {
    static var headers: [String] { ["AT", "ACTION", "REPOSITORY", "REFERENCE", "STATUS", "BYTES", "REASON"] }
    var cells: [String] { [Cell.date(at), action, repository, reference, String(status), String(bytes), reason ?? ""] }
}

extension TokenBody: TableRow {
    static var headers: [String] { ["ID", "NAME", "SCOPE", "CREATED"] }
    var cells: [String] { [id, name, scope, Cell.date(createdAt)] }
}

/// A token just created: the one time its secret is shown.
struct CreatedToken: TableRow {
    var body: TokenBody

    static var headers: [String] { TokenBody.headers + ["TOKEN"] }
    var cells: [String] { body.cells + [body.token ?? ""] }

    func encode(to encoder: any Encoder) throws { try body.encode(to: encoder) }
}

extension ChannelBody: TableRow {
    static var headers: [String] { ["ID", "NAME", "SLUG", "CREATED"] }
    var cells: [String] { [id, name, slug, Cell.date(createdAt)] }
}

extension ReleaseBody: TableRow {
    static var headers: [String] { ["SEQUENCE", "CREATED", "EDITED", "ACTIVE_CHANNELS"] }
    var cells: [String] { [String(sequence), Cell.date(createdAt), Cell.date(editedAt), Cell.list(activeChannels)] }
}

extension FoundImage: TableRow {
    static var headers: [String] { ["FILE", "LINE", "IMAGE", "WHERE"] }
    var cells: [String] { [file, String(line), image, context] }
}

extension PullSummaryBody.Day: TableRow {
    static var headers: [String] { ["DAY", "REQUESTS", "BYTES", "REFUSED"] }
    var cells: [String] { [date, String(requests), String(bytes), String(refused)] }
}

extension PullSummaryBody.Image: TableRow {
    static var headers: [String] { ["REPOSITORY", "REQUESTS", "BYTES", "REFUSED", "LAST"] }
    var cells: [String] { [repository, String(requests), String(bytes), String(refused), Cell.date(lastAt)] }
}

extension PullSummaryBody.CustomerTraffic: TableRow {
    static let headers = ["CUSTOMER", "REQUESTS", "BYTES", "REFUSED"]
    var cells: [String] { [customerId, String(requests), String(bytes), String(refused)] }
}

extension PullSummaryBody.Refusal: TableRow {
    static var headers: [String] { ["REFUSED_BECAUSE", "COUNT"] }
    var cells: [String] { [reason, String(count)] }
}
