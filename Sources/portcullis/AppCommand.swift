import ArgumentParser
import PortcullisAPI

struct AppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "app", abstract: "Manage apps.",
                                                    subcommands: [Create.self, List.self, PublicKey.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an app.", usage: "portcullis app create <slug> [<options>]")
        @Argument(help: "App slug, used in image paths (proxy/<slug>/…).") var slug: String
        @Option(help: "Display name.") var name: String?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let app = try await APIClient(client).call(API.createApp, body: CreateAppRequest(slug: slug, name: name))
            Output.print(app, format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List apps.", usage: "portcullis app ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.apps), format: output.output)
        }
    }

    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "public-key",
                                                        abstract: "Print the PEM key that verifies the app's license field signatures.", usage: "portcullis app public-key <app> [<options>]")
        @Argument(help: "The app's slug.") var app: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let key = try await APIClient(client).call(API.appPublicKey, app)
            if output.output == .json { return Output.json(key) }
            print(key.pem, terminator: "")
        }
    }
}
