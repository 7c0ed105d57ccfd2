import ArgumentParser
import Foundation

struct CustomerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer", abstract: "Manage customers and their licenses.",
        subcommands: [Create.self, List.self, Archive.self, Unarchive.self, Update.self, PullSecretCommand.self, Pulls.self])
    static let columns = [(header: "ID", key: "id"), (header: "NAME", key: "name"), (header: "APP", key: "app"),
                          (header: "CHANNEL", key: "channel"), (header: "TYPE", key: "type"), (header: "STATUS", key: "status"),
                          (header: "EXPIRES", key: "expiresAt"), (header: "LICENSE_ID", key: "licenseId")]

    static func expiry(at: String?, in duration: String?) throws -> String? {
        if let at {
            guard ISO8601DateFormatter().date(from: at) != nil else { throw ValidationError("--expires-at takes an RFC 3339 time such as 2027-01-31T00:00:00Z") }
            return at
        }
        if let duration {
            let seconds = try Duration.parse(duration, option: "--expires-in")
            return ISO8601DateFormatter().string(from: Date().addingTimeInterval(seconds))
        }
        return nil
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a customer and issue its license.")
        @Option(help: "App slug.") var app: String
        @Option(help: "Customer name.") var name: String
        @Option(help: "Customer email.") var email: String?
        @Option(help: "Release channel (default Stable).") var channel: String?
        @Option(help: "License type: dev, trial, paid or community.") var type: String?
        @Option(help: "License lifetime, e.g. 720h.") var expiresIn: String?
        @Option(help: "License expiry, RFC 3339.") var expiresAt: String?
        @Flag(inversion: .prefixedNo, help: "Whether the license may install the vendor's Helm charts.") var helmInstall = true
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if expiresIn != nil && expiresAt != nil { throw ValidationError("use one of --expires-in and --expires-at") }
        }

        func run() async throws {
            var body: [String: Any] = ["app": app, "name": name, "helmInstall": helmInstall]
            if let email { body["email"] = email }
            if let channel { body["channel"] = channel }
            if let type { body["type"] = type }
            if let expires = try CustomerCommand.expiry(at: expiresAt, in: expiresIn) { body["expiresAt"] = expires }
            let result = try await APIClient(client).send(.POST, "/customers", body: body)
            Output.print(result, format: output.output, columns: CustomerCommand.columns)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List customers.")
        @Option(help: "Only this app's customers.") var app: String?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let path = app.map { "/customers?app=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? "/customers"
            Output.print(try await APIClient(client).send(.GET, path), format: output.output, columns: CustomerCommand.columns)
        }
    }

    struct Archive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Archive a customer: its license stops working.")
        @Argument var id: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let result = try await APIClient(client).send(.POST, "/customers/\(id)/archive")
            Output.print(result, format: output.output, columns: CustomerCommand.columns)
        }
    }

    struct Unarchive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore an archived customer.")
        @Argument var id: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let result = try await APIClient(client).send(.POST, "/customers/\(id)/unarchive")
            Output.print(result, format: output.output, columns: CustomerCommand.columns)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a customer's license.")
        @Argument var id: String
        @Option(help: "New expiry, RFC 3339.") var expiresAt: String?
        @Option(help: "New lifetime from now, e.g. 720h.") var expiresIn: String?
        @Flag(help: "Remove the expiry.") var noExpiry = false
        @Option var name: String?
        @Option var email: String?
        @Option var channel: String?
        @Option var type: String?
        @Flag(inversion: .prefixedNo, help: "Grant or withdraw the Helm install entitlement.") var helmInstall: Bool?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var body: [String: Any] = [:]
            if let helmInstall { body["helmInstall"] = helmInstall }
            if let expires = try CustomerCommand.expiry(at: expiresAt, in: expiresIn) { body["expiresAt"] = expires }
            if noExpiry { body["clearExpiry"] = true }
            if let name { body["name"] = name }
            if let email { body["email"] = email }
            if let channel { body["channel"] = channel }
            if let type { body["type"] = type }
            guard !body.isEmpty else { throw ValidationError("nothing to update") }
            let result = try await APIClient(client).send(.PATCH, "/customers/\(id)", body: body)
            Output.print(result, format: output.output, columns: CustomerCommand.columns)
        }
    }

    struct PullSecretCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pull-secret",
                                                        abstract: "Print the customer's Docker config for pulling through Portcullis.")
        @Argument var id: String
        @Flag(help: "Print it base64-encoded, as charts receive global.replicated.dockerconfigjson.") var base64 = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let result = try await APIClient(client).send(.GET, "/customers/\(id)/pull-secret") as? [String: Any]
            print((result?[base64 ? "base64" : "dockerconfigjson"] as? String) ?? "")
        }
    }

    struct Pulls: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a customer's recent registry requests.")
        @Argument var id: String
        @Option(help: "How many, newest first.") var limit = 100
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let result = try await APIClient(client).send(.GET, "/customers/\(id)/pulls?limit=\(limit)")
            Output.print(result, format: output.output, columns: [
                (header: "AT", key: "at"), (header: "ACTION", key: "action"), (header: "REPOSITORY", key: "repository"),
                (header: "REFERENCE", key: "reference"), (header: "STATUS", key: "status"), (header: "BYTES", key: "bytes"),
                (header: "REASON", key: "reason"),
            ])
        }
    }
}
