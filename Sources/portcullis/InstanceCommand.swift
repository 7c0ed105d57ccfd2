import ArgumentParser
import PortcullisAPI

struct InstanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "instance", abstract: "See the running instances the in-cluster SDK reports.",
                                                    subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List a customer's instances: version, how far behind its channel, status, last check-in.", usage: "portcullis instance ls --customer <customer> [<options>]",
            discussion: "An instance is inactive once its SDK has been silent for the server's --instance-inactive-after (24h by default).")
        @Option(help: "The customer's ID.") var customer: String
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let instances = try await APIClient(client).call(API.customerInstances, customer)
            if instances.isEmpty, output.output == .table {
                print("No instances have reported yet: add the portcullis-sdk subchart to the chart (see the README).")
                return
            }
            Output.print(instances, format: output.output)
        }
    }
}

extension InstanceBody: TableRow {
    static var headers: [String] { ["INSTANCE", "VERSION", "BEHIND", "STATUS", "K8S", "LAST_CHECKIN", "ACTIVE"] }
    var cells: [String] {
        [instanceID, versionLabel ?? "", versionsBehind.map(String.init) ?? "", appStatus ?? "",
         [k8sVersion, k8sDistribution].compactMap { $0 }.joined(separator: " "), Cell.date(lastCheckinAt), active ? "yes" : "no"]
    }
}
