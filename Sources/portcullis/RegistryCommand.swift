import ArgumentParser
import Foundation

struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry", abstract: "Manage upstream registries.",
                                                    subcommands: [Add.self, List.self, Remove.self, Test.self])
    static let columns = [(header: "NAME", key: "name"), (header: "PROVIDER", key: "provider"), (header: "ENDPOINT", key: "endpoint"),
                          (header: "APPS", key: "appsShown"), (header: "AUTHTYPE", key: "authType")]

    /// Tables say "(all)" where the API's empty app list means every app.
    static func render(_ result: Any?, format: OutputFormat) {
        guard format == .table else { return Output.print(result, format: format, columns: columns) }
        let rows = (result as? [[String: Any]]) ?? ((result as? [String: Any]).map { [$0] } ?? [])
        Output.table(rows.map { row in
            var row = row
            let apps = row["apps"] as? [Any] ?? []
            row["appsShown"] = apps.isEmpty ? "(all)" : Output.cell(apps)
            return row
        }, columns: columns)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an upstream registry.",
            discussion: "Kinds: other, dockerhub, ghcr, quay, gar, gcr. The secret is read from standard input and stored encrypted.")
        @Argument(help: "Registry kind.") var kind: String
        @Option(help: "Registry host, e.g. quay.io or http://127.0.0.1:5000 (https unless a scheme is given).") var endpoint: String?
        @Option(help: "Name (slug) used in proxy paths; derived from the endpoint by default.") var name: String?
        @Option(help: "Username for the registry.") var username: String?
        @Flag(help: "Read the password from standard input.") var passwordStdin = false
        @Flag(help: "Read an access token from standard input.") var tokenStdin = false
        @Option(name: .customLong("app"), help: "Limit to this app (repeatable; default: all apps).") var apps: [String] = []
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if passwordStdin && tokenStdin { throw ValidationError("use one of --password-stdin and --token-stdin") }
        }

        func run() async throws {
            var body: [String: Any] = ["provider": kind, "apps": apps]
            if let endpoint { body["endpoint"] = endpoint }
            if let name { body["name"] = name }
            if let username { body["username"] = username }
            if passwordStdin || tokenStdin {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                guard let secret = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines), !secret.isEmpty else {
                    throw ValidationError("no secret on standard input")
                }
                body["secret"] = secret
                body["authType"] = tokenStdin ? "token" : "password"
            }
            RegistryCommand.render(try await APIClient(client).send(.POST, "/registries", body: body), format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List registries (secrets are never shown).")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            RegistryCommand.render(try await APIClient(client).send(.GET, "/registries"), format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a registry.")
        @Argument var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).send(.DELETE, "/registries/\(name)")
            print("removed \(name)")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that Portcullis can pull an image from a registry.")
        @Argument var name: String
        @Option(help: "Image on that registry, e.g. org/api:1.0.") var image: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let result = try await APIClient(client).send(.POST, "/registries/\(name)/test", body: ["image": image]) as? [String: Any]
            if output.output == .json { Output.json(result) } else {
                print("\(result?["result"] as? String ?? "?"): \(result?["message"] as? String ?? "")")
            }
            if result?["result"] as? String != "ok" { throw ExitCode(1) }
        }
    }
}
