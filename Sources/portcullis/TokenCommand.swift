import ArgumentParser
import PortcullisAPI

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage vendor API tokens (registry push and pull).",
                                                    subcommands: [Create.self, List.self, Remove.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; it is shown once.", usage: "portcullis token create --name <name> [<options>]")
        @Option(help: "A name to recognise it by.") var name: String
        @Option(help: "read (pull only) or push.") var scope = "push"
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let token = try await APIClient(client).call(API.createToken, body: CreateTokenRequest(name: name, scope: scope))
            Output.print(CreatedToken(body: token), format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List tokens (never their secrets).", usage: "portcullis token ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.tokens), format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Revoke a token.", usage: "portcullis token rm <id> [<options>]")
        @Argument(help: "The token's ID, as `token ls` lists it.") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.removeToken, id)
            print("removed \(id)")
        }
    }
}
