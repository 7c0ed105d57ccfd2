import ArgumentParser
import Foundation
import PortcullisAPI

struct CustomerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer", abstract: "Manage customers and their licenses.",
        subcommands: [Create.self, List.self, Archive.self, Unarchive.self, Update.self, PullSecretCommand.self, DownloadLicense.self, MirrorConfig.self, Pulls.self])
    static func expiry(at: String?, in duration: String?) throws -> Date? {
        if let at {
            guard let date = ISO8601DateFormatter().date(from: at) else {
                throw ValidationError("--expires-at takes an RFC 3339 time such as 2027-01-31T00:00:00Z")
            }
            return date
        }
        if let duration {
            return Date().addingTimeInterval(try Duration.parse(duration, option: "--expires-in"))
        }
        return nil
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a customer and issue its license.")
        @OptionGroup var app: AppOption
        @Option(help: "Customer name.") var name: String
        @Option(help: "Customer email.") var email: String?
        @Option(help: "Release channel: name, slug or ID (default Stable).") var channel: String?
        @Option(help: "License type: dev, trial, paid or community.") var type: String?
        @Option(help: "License lifetime, e.g. 720h.") var expiresIn: String?
        @Option(help: "License expiry, RFC 3339.") var expiresAt: String?
        @Flag(inversion: .prefixedNo, help: "Whether the license may install the vendor's Helm charts.") var helmInstall = true
        @Option(name: .customLong("field"), help: "A license field value, name=value (repeatable).") var fields: [String] = []
        @Flag(help: "Create it even though the app has a customer of that name.") var allowDuplicate = false
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if expiresIn != nil && expiresAt != nil { throw ValidationError("use one of --expires-in and --expires-at") }
        }

        func run() async throws {
            var request = CreateCustomerRequest(app: try app.slug(), name: name, email: email, channel: channel, type: type,
                                                expiresAt: try CustomerCommand.expiry(at: expiresAt, in: expiresIn), helmInstall: helmInstall)
            request.fields = try CustomerCommand.fieldValues(fields)
            if allowDuplicate { request.allowDuplicate = true }
            Output.print(try await APIClient(client).call(API.createCustomer, body: request), format: output.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List customers.", usage: "portcullis customer ls [<options>]")
        @Option(help: "Only this app's customers (env PORTCULLIS_APP; default: every app).") var app: String?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.customers, query: [("app", app ?? AppOption.fromEnvironment)]), format: output.output)
        }
    }

    struct Archive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Archive a customer: its license stops working.", usage: "portcullis customer archive <id> [<options>]")
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.archiveCustomer, id), format: output.output)
        }
    }

    struct Unarchive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore an archived customer.", usage: "portcullis customer unarchive <id> [<options>]")
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.unarchiveCustomer, id), format: output.output)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a customer's license.")
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String
        @Option(help: "New expiry, RFC 3339.") var expiresAt: String?
        @Option(help: "New lifetime from now, e.g. 720h.") var expiresIn: String?
        @Flag(help: "Remove the expiry.") var noExpiry = false
        @Option(help: "New name.") var name: String?
        @Option(help: "New email.") var email: String?
        @Option(help: "New release channel: name, slug or ID.") var channel: String?
        @Option(help: "New license type: dev, trial, paid or community.") var type: String?
        @Flag(inversion: .prefixedNo, help: "Grant or withdraw the Helm install entitlement.") var helmInstall: Bool?
        @Option(name: .customLong("field"), help: "A license field value, name=value (repeatable).") var fields: [String] = []
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var request = UpdateCustomerRequest(name: name, email: email, channel: channel, type: type,
                                                expiresAt: try CustomerCommand.expiry(at: expiresAt, in: expiresIn),
                                                clearExpiry: noExpiry ? true : nil, helmInstall: helmInstall)
            request.fields = try CustomerCommand.fieldValues(fields)
            guard !request.isEmpty || request.fields != nil else { throw ValidationError("nothing to update") }
            Output.print(try await APIClient(client).call(API.updateCustomer, id, body: request),
                         format: output.output)
        }
    }

    /// `name=value` pairs, or nil when none were given.
    static func fieldValues(_ pairs: [String]) throws -> [String: String]? {
        guard !pairs.isEmpty else { return nil }
        var values: [String: String] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--field takes name=value") }
            values[parts[0]] = parts[1]
        }
        return values
    }

    struct DownloadLicense: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "download-license",
            abstract: "Write the customer's license as a signed YAML document (verify with `app public-key`).", usage: "portcullis customer download-license <id> [<options>]")
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String
        @Option(help: "Write it to this file instead of standard output.") var file: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let document = try await APIClient(client).call(API.license, id).text
            if let file {
                // Written whole or not at all.
                try Data(document.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
                print("wrote \(file)")
            } else {
                print(document, terminator: "")
            }
        }
    }

    struct PullSecretCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pull-secret",
                                                        abstract: "Print the customer's Docker config for pulling through Portcullis.", usage: "portcullis customer pull-secret <id> [<options>]")
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String
        @Flag(help: "Print it base64-encoded, as charts receive global.replicated.dockerconfigjson.") var base64 = false
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let secret = try await APIClient(client).call(API.pullSecret, id)
            if output.output == .json { return Output.json(secret) }
            print(base64 ? secret.base64 : secret.dockerconfigjson)
        }
    }

    struct MirrorConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mirror-config",
            abstract: "Print containerd hosts.toml files that pull the vendor's images through Portcullis with this license.", usage: "portcullis customer mirror-config <id> [<options>]",
            discussion: """
                Install each file on the customer's nodes at the path shown (containerd's config_path, by default
                /etc/containerd/certs.d): pulls of the vendor's original image references then go through Portcullis,
                with no chart rewrite and no imagePullSecrets. --dir writes the files instead.
                """)
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String
        @Option(name: .customLong("upstream"), help: "Only this registry (repeatable; default: every registry the app may use).")
        var upstreams: [String] = []
        @Option(help: "Portcullis as the nodes reach it, e.g. https://registry.example.com (default: the server's public URL).")
        var server: String?
        @Option(help: "A CA file on the nodes that signed Portcullis's certificate (a private CA).") var ca: String?
        @Option(help: "Write <dir>/<host>/hosts.toml files instead of printing them.") var dir: String?
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let query: [(String, String?)] = upstreams.map { ("upstream", $0) } + [("server", server), ("ca", ca)]
            let files = try await APIClient(client).call(API.mirrorConfig, id, query: query)
            if files.isEmpty { throw CLIError("the customer's app has no registries to mirror") }
            if output.output == .json, dir == nil { return Output.json(files) }
            for file in files {
                if let dir {
                    let folder = URL(fileURLWithPath: dir).appendingPathComponent(file.host)
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                    let target = folder.appendingPathComponent("hosts.toml")
                    // The file holds the license: readable by root (containerd) only.
                    FileManager.default.createFile(atPath: target.path, contents: Data(file.contents.utf8), attributes: [.posixPermissions: 0o600])
                    print("wrote \(target.path)")
                } else {
                    print("# \(file.path)\n\(file.contents)")
                }
            }
        }
    }

    struct Pulls: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a customer's recent registry requests, or summarize requests per day and per image.", usage: "portcullis customer pulls [<id>] [<options>]",
            discussion: "Without a customer ID, --summary covers all traffic: per customer, and the vendor's own and anonymous pulls apart.")
        @Argument(help: "The customer's ID, as `customer ls` lists it.") var id: String?
        @Option(help: "How many, newest first.") var limit = 100
        @Flag(help: "Per day and per image, and the reasons for refusals.") var summary = false
        @Option(help: "With --summary: how far back, e.g. 30d (at most 366d).") var since: String?
        @Option(help: "With --summary: how many days (same as --since Nd).") var days = 14
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            if summary {
                var days = self.days
                if let since { days = max(1, Int((try Duration.parse(since, option: "--since") / 86_400).rounded(.up))) }
                let query = [("days", String(days) as String?)]
                let api = try APIClient(client)
                let body = if let id { try await api.call(API.customerPullSummary, id, query: query) } else {
                    try await api.call(API.pullSummary, query: query)
                }
                if output.output == .json { Output.json(body); return }
                Output.print(body.days, format: .table)
                print()
                Output.print(body.images, format: .table)
                if let customers = body.customers {
                    print()
                    Output.print(customers, format: .table)
                }
                if let unattributed = body.unattributed {
                    print("\nunattributed (vendor tokens and anonymous): \(unattributed.requests) requests, \(unattributed.bytes) bytes, "
                          + "\(unattributed.refused) refused")
                }
                if !body.refusals.isEmpty {
                    print()
                    Output.print(body.refusals, format: .table)
                }
                return
            }
            guard let id else { throw ValidationError("give a customer ID (or --summary for all traffic)") }
            Output.print(try await APIClient(client).call(API.customerPulls, id, query: [("limit", String(limit))]),
                         format: output.output)
        }
    }
}
