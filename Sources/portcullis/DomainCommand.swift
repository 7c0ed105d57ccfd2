import ArgumentParser
import Foundation
import PortcullisAPI

struct DomainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "domain", abstract: "Manage custom domains customers pull from.",
                                                    subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve an app on its own host name.", usage: "portcullis domain add <name> [<options>]",
            discussion: """
                Requests whose Host is the domain see only that app's repositories; token realms, pull secrets and the \
                dockerconfigjson injected into charts name the domain. With --cert and --key the certificate is served \
                for the domain (SNI); it must match its key, be valid now and name the domain.
                """)
        @Argument(help: "Host name, e.g. registry.acme.example.") var name: String
        @OptionGroup var app: AppOption
        @Option(help: "PEM certificate chain for the domain.") var cert: String?
        @Option(help: "PEM private key of that certificate.") var key: String?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
        }

        func run() async throws {
            func read(_ path: String?) throws -> String? {
                guard let path else { return nil }
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
                return text
            }
            let request = CreateDomainRequest(name: name, app: try app.slug(), certificate: try read(cert), key: try read(key))
            Output.print(try await APIClient(client).call(API.addDomain, body: request), format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List custom domains.", usage: "portcullis domain ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.domains), format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a custom domain.", usage: "portcullis domain rm <name> [<options>]")
        @Argument(help: "The domain, as `domain ls` lists it.") var name: String
        @Flag(help: "Remove it even though released charts still name it.") var force = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.removeDomain, name, query: [("force", force ? "true" : nil)])
            print("removed \(name)")
        }
    }
}

extension DomainBody: TableRow {
    static var headers: [String] { ["NAME", "APP", "CERTIFICATE_EXPIRES", "CREATED"] }
    var cells: [String] { [name, app, certificateExpiresAt.map(Cell.date) ?? "", Cell.date(createdAt)] }
}
