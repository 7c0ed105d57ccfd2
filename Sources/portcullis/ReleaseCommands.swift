import ArgumentParser
import Charts
import Foundation
import PortcullisAPI

/// `--app`, falling back to `PORTCULLIS_APP` as vendor CLIs do with their app variable.
struct AppOption: ParsableArguments {
    @Option(help: "App slug or ID (env PORTCULLIS_APP).") var app: String?

    /// `PORTCULLIS_APP`, when set and not empty.
    static var fromEnvironment: String? {
        ProcessInfo.processInfo.environment["PORTCULLIS_APP"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func slug() throws -> String {
        guard let slug = app ?? Self.fromEnvironment, !slug.isEmpty else {
            throw ValidationError("no app: pass --app or set PORTCULLIS_APP")
        }
        return slug
    }
}

struct ChannelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "channel", abstract: "Manage release channels.",
                                                    subcommands: [List.self, Create.self])
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List an app's channels.", usage: "portcullis channel ls [<options>]")
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.channels, try app.slug()), format: output.output)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a channel.", usage: "portcullis channel create --name <name> [<options>]")
        @Option(help: "Channel name.") var name: String
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let channel = try await APIClient(client).call(API.createChannel, try app.slug(), body: CreateChannelRequest(name: name))
            Output.print(channel, format: output.output)
        }
    }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Create, promote and list releases.",
                                                    subcommands: [Create.self, Promote.self, List.self, Bundle.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a release from Helm chart archives.", usage: "portcullis release create --chart <chart> ... --version <version> [<options>]")
        @Option(name: .customLong("chart"), help: "A packaged chart (.tgz); repeatable.") var charts: [String]
        @Option(help: "Release version (SemVer).") var version: String
        @Option(help: "Promote to this channel at once.") var promote: String?
        @Option(help: "Release notes.") var releaseNotes: String?
        @Flag(help: "Run `chart lint` on the server first and refuse the release on errors.") var lint = false
        @Option(help: "With --lint: the host images must use (default: the server's public host).") var proxyHost: String?
        @Option(name: .customLong("accept-unknown"), help: ArgumentHelp(
            "With --lint: an image the linter cannot tell, checked by hand (FILE:LINE as lint names it, or all; repeatable).", valueName: "file:line"))
        var acceptUnknown: [String] = []
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if charts.isEmpty { throw ValidationError("at least one --chart is required") }
        }

        func run() async throws {
            var encoded: [String] = []
            for path in charts {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    throw CLIError("\(path) is a chart directory; --chart takes the packaged chart: `helm package \(path)` writes NAME-VERSION.tgz")
                }
                guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read chart \(path)") }
                // Checked here too, so the message names the file (the server numbers the charts).
                do { _ = try ChartPackage.parse(archive: Array(data)) } catch { throw CLIError("\(path) is not a valid Helm chart: \(error)") }
                encoded.append(data.base64EncodedString())
            }
            let request = CreateReleaseRequest(version: version, charts: encoded, promote: promote, releaseNotes: releaseNotes,
                                               lint: lint ? true : nil, proxyHost: proxyHost, acceptUnknown: acceptUnknown.isEmpty ? nil : acceptUnknown)
            let release = try await APIClient(client).call(API.createRelease, try app.slug(), body: request)
            print("SEQUENCE: \(release.sequence)")
            for warning in release.warnings ?? [] { Output.warn(warning) }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Promote a release to a channel.", usage: "portcullis release promote <sequence> <channel> --version <version> [<options>]")
        @Argument(help: "Release sequence.") var sequence: Int
        @Argument(help: "Channel name.") var channel: String
        @Option(help: "Version label for this promotion (SemVer).") var version: String
        @Option(help: "Release notes.") var releaseNotes: String?
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.promote, try app.slug(), String(sequence),
                                                 body: PromoteRequest(channel: channel, version: version, releaseNotes: releaseNotes))
            print("Channel \(channel) successfully set to release \(sequence)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List releases, newest first.", usage: "portcullis release ls [<options>]")
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.releases, try app.slug()), format: output.output)
        }
    }

    struct Bundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an air-gap bundle of a release for one customer.", usage: "portcullis release bundle <sequence> --customer <customer> --output <output> [<options>]",
            discussion: """
                One archive (an OCI image layout) with the release's charts as that customer receives them, their                 license injected, and every image the charts reference: whole multi-arch indexes, or the platforms                 given. The release must be promoted to the customer's channel and the license must be able to pull                 every image. Interrupted, the download stays in OUTPUT.partial and the next run resumes it; OUTPUT \
                appears only once the whole archive matches its digest. The customer pushes it into their registry                 with `portcullis bundle push`.
                """)
        @Argument(help: "Release sequence.") var sequence: Int
        @Option(help: "Customer ID the bundle is for.") var customer: String
        @Option(name: .customLong("platform"), help: "os/arch[/variant] to keep of multi-arch images (repeatable; default: all).")
        var platforms: [String] = []
        @Option(name: [.customShort("o"), .customLong("output")], help: "Where to write the bundle.") var output: String
        @OptionGroup var app: AppOption
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let query = [("customer", customer as String?)] + platforms.map { ("platform", $0) }
            let path = API.bundle.path(try app.slug(), String(sequence), query: query)
            let result = try await APIClient(client).download(path, to: output)
            if let resumedAt = result.resumedAt { print("resumed at byte \(resumedAt)") }
            print("wrote \(output) (\(result.bytes) bytes\(result.digest.map { ", \($0)" } ?? ""))")
        }
    }
}
