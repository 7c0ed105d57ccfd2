import ArgumentParser

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage vendor API tokens (registry push and pull).",
                                                    subcommands: [Create.self, List.self, Remove.self])
    static let columns = [(header: "ID", key: "id"), (header: "NAME", key: "name"), (header: "SCOPE", key: "scope"),
                          (header: "CREATED", key: "createdAt")]

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; it is shown once.")
        @Option(help: "A name to recognise it by.") var name: String
        @Option(help: "read (pull only) or push.") var scope = "push"
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let result = try await APIClient(client).send(.POST, "/tokens", body: ["name": name, "scope": scope])
            Output.print(result, format: output.output, columns: TokenCommand.columns + [(header: "TOKEN", key: "token")])
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List tokens (never their secrets).")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).send(.GET, "/tokens"), format: output.output, columns: TokenCommand.columns)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Revoke a token.")
        @Argument var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).send(.DELETE, "/tokens/\(id)")
            print("removed \(id)")
        }
    }
}
