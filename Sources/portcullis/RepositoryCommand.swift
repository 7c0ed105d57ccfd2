import ArgumentParser
import PortcullisAPI

struct RepositoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo", abstract: "Vendor repositories anyone may pull without a license.",
        discussion: "Everything else keeps refusing clients without a license; anonymous pulls are rate-limited per address.",
        subcommands: [Public.self, Private.self, List.self])

    struct Public: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let anyone pull <app>/<repo> without a license.", usage: "portcullis repo public <name> [<options>]")
        @Argument(help: "A vendor repository, <app>/<repo>.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.makeRepositoryPublic, body: PublicRepositoryBody(name: name))
            print("\(name) is public")
        }
    }

    struct Private: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Require a license to pull <app>/<repo> again.", usage: "portcullis repo private <name> [<options>]")
        @Argument(help: "A vendor repository, <app>/<repo>.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.makeRepositoryPrivate, query: [("name", name)])
            print("\(name) needs a license")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List public vendor repositories.", usage: "portcullis repo ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.publicRepositories), format: output.output)
        }
    }
}

extension PublicRepositoryBody: TableRow {
    static var headers: [String] { ["NAME"] }
    var cells: [String] { [name] }
}
