import ArgumentParser
import Foundation
import PortcullisAPI

struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry", abstract: "Manage upstream registries.",
                                                    subcommands: [Add.self, List.self, Update.self, Remove.self, Test.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an upstream registry.",
            discussion: """
                Kinds: other (Artifactory, Nexus, Harbor, any v2 registry), dockerhub, ghcr, quay, gar, gcr, ecr.
                Secrets are read from standard input and stored encrypted; --anonymous registers a public registry.
                ECR: --access-key-id ID --secret-access-key-stdin; the region comes from the endpoint's host or --region.
                GAR/GCR: the service account's JSON key with --password-stdin (the username defaults to _json_key).
                """)
        @Argument(help: "Registry kind.") var kind: String
        @Option(help: "Registry host, e.g. quay.io or http://127.0.0.1:5000 (https unless a scheme is given).") var endpoint: String?
        @Option(help: "Name (slug) used in proxy paths; derived from the endpoint by default.") var name: String?
        @Option(help: "Username (robot account, _json_key) for the registry.") var username: String?
        @Flag(help: "Read the password (or JSON key) from standard input.") var passwordStdin = false
        @Flag(help: "Read an access token from standard input.") var tokenStdin = false
        @Option(help: "ECR: the AWS access key ID.") var accessKeyId: String?
        @Flag(help: "ECR: read the AWS secret access key from standard input.") var secretAccessKeyStdin = false
        @Option(help: "ECR: the AWS region, when the endpoint's host does not name it.") var region: String?
        @Flag(help: "A public registry: no credentials.") var anonymous = false
        @Flag(help: "Let anyone pull through it without a license (rate-limited per address by the server).")
        var anonymousPull = false
        @Option(name: .customLong("allow"), help: "Upstream repositories customers may pull, e.g. 'org/*' or 'org/**' (repeatable; default: all).")
        var allow: [String] = []
        @Option(name: .customLong("app"), help: "Limit to this app (repeatable; default: every app, whatever PORTCULLIS_APP says).") var apps: [String] = []
        @Option(name: .customLong("token-realm"), help: ArgumentHelp(
            "A host whose token service the registry may send logins to, besides its own host and the provider's known one (repeatable).",
            valueName: "host"))
        var tokenRealms: [String] = []
        @Flag(help: "Keep the credentials without trying them (by default a registry that refuses them is not added).")
        var noVerify = false
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            let sources = [passwordStdin, tokenStdin, secretAccessKeyStdin].filter { $0 }.count
            if sources > 1 { throw ValidationError("use one of --password-stdin, --token-stdin and --secret-access-key-stdin") }
            if anonymous && (sources > 0 || username != nil || accessKeyId != nil) {
                throw ValidationError("--anonymous takes no username, key or secret")
            }
            if accessKeyId != nil && username != nil { throw ValidationError("use --access-key-id (ecr) or --username, not both") }
        }

        func run() async throws {
            var request = CreateRegistryRequest(provider: kind, endpoint: endpoint, name: name, username: accessKeyId ?? username,
                                                region: region, anonymous: anonymous ? true : nil, allow: allow,
                                                anonymousPull: anonymousPull ? true : nil, apps: apps,
                                                tokenRealms: tokenRealms.isEmpty ? nil : tokenRealms)
            if passwordStdin || tokenStdin || secretAccessKeyStdin {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                guard let secret = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines), !secret.isEmpty else {
                    throw ValidationError("no secret on standard input")
                }
                request.secret = secret
                request.authType = tokenStdin ? "token" : nil
            }
            if noVerify { request.verify = false }
            let added = try await APIClient(client).call(API.addRegistry, body: request)
            Output.print(added, format: output.output)
            if let warning = added.warning { Output.warn("registry \(added.name) added, but \(warning)") }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a registry's credentials (rotation), tried before they are kept.", usage: "portcullis registry update <name> [<options>]",
            discussion: "The new secret is read from standard input; the name, endpoint, apps and rules stay as they are.")
        @Argument(help: "The registry's name, as `registry ls` lists it.") var name: String
        @Option(help: "The new username (default: the current one).") var username: String?
        @Option(help: "ECR: the new AWS access key ID.") var accessKeyId: String?
        @Flag(help: "Read the new password (or JSON key) from standard input.") var passwordStdin = false
        @Flag(help: "Read a new access token from standard input.") var tokenStdin = false
        @Flag(help: "ECR: read the new AWS secret access key from standard input.") var secretAccessKeyStdin = false
        @Flag(help: "Keep the credentials without trying them.") var noVerify = false
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            let sources = [passwordStdin, tokenStdin, secretAccessKeyStdin].filter { $0 }.count
            if sources != 1 { throw ValidationError("give the new secret with one of --password-stdin, --token-stdin and --secret-access-key-stdin") }
            if accessKeyId != nil && username != nil { throw ValidationError("use --access-key-id (ecr) or --username, not both") }
        }

        func run() async throws {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard let secret = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines), !secret.isEmpty else {
                throw ValidationError("no secret on standard input")
            }
            let request = UpdateRegistryRequest(username: accessKeyId ?? username, secret: secret, authType: tokenStdin ? "token" : nil,
                                                verify: noVerify ? false : nil)
            let updated = try await APIClient(client).call(API.updateRegistry, name, body: request)
            Output.print(updated, format: output.output)
            if let warning = updated.warning { Output.warn("credentials of \(updated.name) replaced, but \(warning)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List registries (secrets are never shown).", usage: "portcullis registry ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.registries), format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a registry.", usage: "portcullis registry rm <name> [<options>]")
        @Argument(help: "The registry's name, as `registry ls` lists it.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.removeRegistry, name)
            print("removed \(name)")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that Portcullis can pull an image from a registry.", usage: "portcullis registry test <name> --image <image> [<options>]")
        @Argument(help: "The registry's name, as `registry ls` lists it.") var name: String
        @Option(help: "Image on that registry, e.g. org/api:1.0.") var image: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let result = try await APIClient(client).call(API.testRegistry, name, body: TestRegistryRequest(image: image))
            if output.output == .json { Output.json(result) } else { print("\(result.result): \(result.message)") }
            if result.result != "ok" { throw ExitCode(1) }
        }
    }
}
