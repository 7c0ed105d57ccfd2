import ArgumentParser
import PortcullisAPI

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook", abstract: "Tell the vendor's systems what happens.",
        discussion: """
            Events: license.expiring (30, 7 and 1 days before, once each), customer.created, customer.archived, \
            customer.unarchived, release.promoted, pull.refused (a customer's refused requests reaching \
            --refused-pull-threshold within an hour), upstream.auth_failed (the vendor's registry credentials refused). \
            Payloads are JSON signed with HMAC-SHA256: Portcullis-Signature: t=<unix>,v1=<hex of HMAC(secret, "<t>.<body>")>.
            """,
        subcommands: [Add.self, List.self, Remove.self, Deliveries.self, Test.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a webhook; prints its signing secret once.", usage: "portcullis webhook add --url <url> [<options>]")
        @Option(help: "http:// or https:// URL to POST events to.") var url: String
        @Option(name: .customLong("event"), help: "An event to send (repeatable).") var events: [String] = []
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let body = try await APIClient(client).call(API.addWebhook, body: CreateWebhookRequest(url: url, events: events))
            if output.output == .json { Output.json(body) } else {
                Output.print(body, format: .table)
                print("\nSigning secret (shown once): \(body.secret ?? "")")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List webhooks.", usage: "portcullis webhook ls [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.webhooks), format: output.output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a webhook.", usage: "portcullis webhook rm <id> [<options>]")
        @Argument(help: "The webhook's ID, as `webhook ls` lists it.") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.removeWebhook, id)
            print("removed \(id)")
        }
    }

    struct Deliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a webhook's delivery attempts, newest first.", usage: "portcullis webhook deliveries <id> [<options>]")
        @Argument(help: "The webhook's ID, as `webhook ls` lists it.") var id: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            Output.print(try await APIClient(client).call(API.webhookDeliveries, id),
                         format: output.output)
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a webhook.test event to one webhook.", usage: "portcullis webhook test <id> [<options>]")
        @Argument(help: "The webhook's ID, as `webhook ls` lists it.") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await APIClient(client).call(API.testWebhook, id)
            print("queued a webhook.test event; see `portcullis webhook deliveries \(id)`")
        }
    }
}

extension WebhookBody: TableRow {
    static var headers: [String] { ["ID", "URL", "EVENTS", "CREATED"] }
    var cells: [String] { [id, url, Cell.list(events), Cell.date(createdAt)] }
}

extension WebhookDeliveryBody: TableRow {
    static var headers: [String] { ["AT", "EVENT", "ATTEMPT", "STATUS", "ERROR", "EVENT_ID"] }
    var cells: [String] { [Cell.date(at), event, String(attempt), status.map(String.init) ?? "", error ?? "", eventId] }
}
