import ArgumentParser
import Foundation
import Hummingbird
import InClusterSDK
import Logging
import ServiceLifecycle

struct SDKCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sdk", abstract: "The in-cluster SDK that ships with a vendor's chart (the portcullis-sdk subchart).",
        subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer the application's license, update and instance questions, and report the instance to Portcullis.", usage: "portcullis sdk serve --config <config> [<options>]",
            discussion: """
                The configuration is the subchart's config.yaml (the values the registry injected when the customer pulled the chart). \
                The license document and every field are checked against the app's public key before they are answered. \
                In air-gap mode nothing connects anywhere: answers come from the injected license.
                """)
        @Option(help: "The SDK's configuration file (config.yaml from the subchart's Secret).") var config: String
        @Option(help: "Address to listen on.") var listen = "0.0.0.0:3000"
        @Option(help: "Where the instance ID, the last license and the metrics are kept.") var stateDir = "/var/lib/portcullis-sdk"
        @Option(help: "Portcullis's URL (default: portcullisEndpoint in the configuration).") var endpoint: String?
        @Flag(help: "No outbound connection at all (overrides isAirgap).") var airgap = false
        @Option(help: "How often the instance reports, e.g. 30s or 4h (default: reportInterval in the configuration).") var reportInterval: String?
        @Option(help: "PEM file of the CA that signed Portcullis's certificate (env SSL_CERT_FILE).") var caCert: String?
        @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

        func run() async throws {
            let text: String
            do { text = try String(contentsOfFile: config, encoding: .utf8) } catch { throw CLIError("cannot read \(config)") }
            var settings: SDKConfiguration
            do { settings = try SDKConfiguration.parse(text) } catch { throw CLIError("\(config): \(error.description)") }
            if let endpoint { settings.endpoint = endpoint }
            if airgap { settings.isAirgap = true }
            if let reportInterval {
                guard let seconds = SDKConfiguration.duration(reportInterval) else {
                    throw ValidationError("--report-interval \(reportInterval) is not a duration such as 30s, 15m or 4h")
                }
                settings.reportInterval = seconds
            }
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                throw ValidationError("--listen is HOST:PORT, e.g. 0.0.0.0:3000")
            }
            var logger = Logger(label: "portcullis-sdk")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            let ca = caCert ?? ProcessInfo.processInfo.environment["SSL_CERT_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            let cluster = settings.isAirgap ? ClusterFacts() : await ClusterFacts.detect()
            let sdk: SDKService
            do {
                sdk = try SDKService(configuration: settings, stateDirectory: stateDir, caCertificate: ca, cluster: cluster, logger: logger)
            } catch let error as CustomStringConvertible {
                throw CLIError("the SDK cannot start: \(error.description)")
            }
            let app = Application(router: sdk.router(),
                                  configuration: .init(address: .hostname(String(listen[..<colon]), port: port), serverName: nil),
                                  logger: logger)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: app), .init(service: SDKReporter(sdk: sdk), successTerminationBehavior: .ignore)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            logger.notice("portcullis sdk listening", metadata: ["address": "\(listen)", "airgap": "\(settings.isAirgap)",
                                                                "app": "\(settings.appSlug)"])
            try await group.run()
        }
    }
}

