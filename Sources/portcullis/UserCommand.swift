import ArgumentParser
import Foundation
import PortcullisAPI

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage vendor users of the web portal.",
                                                    subcommands: [Create.self, List.self, Remove.self, Audit.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a portal user; the password is read from standard input.", usage: "portcullis user create --email <email> [<options>]")
        @Option(help: "Email address (the login name).") var email: String
        @Flag(help: "Read the password from standard input (at least 12 characters).") var passwordStdin = false
        @Option(help: "admin or read-only.") var role = "admin"
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard passwordStdin else { throw ValidationError("--password-stdin is required: passwords are never arguments") }
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard let password = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines), !password.isEmpty else {
                throw ValidationError("no password on standard input")
            }
            let body = CreateUserRequest(email: email, password: password, role: role)
            Output.print(try await APIClient(client).call(API.createUser, body: body), format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List portal users.", usage: "portcullis user ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.users), format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a portal user; their sessions end at once.", usage: "portcullis user rm <user> [<options>]")
        @Argument(help: "User id or email.") var user: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.removeUser, user)
            print("removed \(user)")
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show recent changes: who, what, when.", usage: "portcullis user audit [<options>]")
        @Option(help: "How many, newest first.") var limit = 100
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.audit, query: [("limit", String(limit))]), format: output.output)
        }
    }
}

extension UserBody: TableRow {
    static var headers: [String] { ["ID", "EMAIL", "ROLE", "CREATED"] }
    var cells: [String] { [id, email, role, Cell.date(createdAt)] }
}

extension AuditBody: TableRow {
    static var headers: [String] { ["AT", "ACTOR", "ACTION", "SUBJECT"] }
    var cells: [String] { [Cell.date(at), actor, action, subject] }
}
