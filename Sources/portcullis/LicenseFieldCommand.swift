import ArgumentParser
import PortcullisAPI

struct LicenseFieldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "license-field", abstract: "Fields an app's licenses carry (seats, feature switches), signed for charts.",
        discussion: """
            Charts read them at .Values.global.replicated.licenseFields.<name>.value (typed), with name, title, description, \
            valueType and signature.v1 (RSA-PSS over SHA-256; verify with `portcullis app public-key`).
            """,
        subcommands: [Create.self, List.self, Remove.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Define a license field for an app.", usage: "portcullis license-field create --name <name> --type <type> [<options>]")
        @OptionGroup var app: AppOption
        @Option(help: "Field name: lowercase letters, digits and _.") var name: String
        @Option(help: "Title shown to people.") var title: String?
        @Option(help: "Description.") var description: String?
        @Option(help: "integer, string, boolean or text.") var type: String
        @Option(help: "Value for customers who have none.") var `default`: String?
        @Flag(help: "Injected, but marked isHidden for the customer's eyes.") var hidden = false
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let body = LicenseFieldBody(name: name, title: title, description: description, type: type, default: `default`, hidden: hidden)
            Output.print(try await APIClient(client).call(API.createLicenseField, try app.slug(), body: body),
                         format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List an app's license fields.", usage: "portcullis license-field ls [<options>]")
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.licenseFields, try app.slug()),
                         format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a license field.", usage: "portcullis license-field rm <name> [<options>]")
        @OptionGroup var app: AppOption
        @Argument(help: "The field's name, as `license-field ls` lists it.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.removeLicenseField, try app.slug(), name)
            print("removed \(name)")
        }
    }
}

extension LicenseFieldBody: TableRow {
    static var headers: [String] { ["NAME", "TITLE", "TYPE", "DEFAULT", "HIDDEN"] }
    var cells: [String] { [name, title ?? "", type, self.default ?? "", hidden == true ? "yes" : "no"] }
}
