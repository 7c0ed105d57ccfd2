import ArgumentParser
import PortcullisAPI
import Server

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a new secret key for PORTCULLIS_SECRET_KEY (the same on every replica).")

    func run() {
        print(ServerSecrets.generateKey())
    }
}

struct SigningKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "signing-key", abstract: "Manage the keys registry tokens are signed with.",
                                                    subcommands: [List.self, Rotate.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List signing keys, newest first.", usage: "portcullis signing-key ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.signingKeys), format: output.output)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign new tokens with a new key; tokens signed with older keys stay valid until they expire.", usage: "portcullis signing-key rotate [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.rotateSigningKey), format: output.output)
        }
    }
}

extension SigningKeyBody: TableRow {
    static var headers: [String] { ["KID", "CREATED", "SIGNING"] }
    var cells: [String] { [keyID, Cell.date(createdAt), signing ? "yes" : "no"] }
}
