import ArgumentParser

struct AppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "app", abstract: "Manage apps.",
                                                    subcommands: [Create.self, List.self])
    static let columns = [(header: "ID", key: "id"), (header: "SLUG", key: "slug"), (header: "NAME", key: "name"),
                          (header: "CREATED", key: "createdAt")]

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an app.")
        @Argument(help: "App slug, used in image paths (proxy/<slug>/…).") var slug: String
        @Option(help: "Display name.") var name: String?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var body: [String: Any] = ["slug": slug]
            if let name { body["name"] = name }
            let result = try await APIClient(client).send(.POST, "/apps", body: body)
            Output.print(result, format: output.output, columns: AppCommand.columns)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List apps.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).send(.GET, "/apps"), format: output.output, columns: AppCommand.columns)
        }
    }
}
