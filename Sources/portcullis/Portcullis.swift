import ArgumentParser
import PortcullisAPI

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "A license-gated pull-through registry for software vendors.",
        version: portcullisVersion,
        subcommands: [Serve.self, AppCommand.self, RegistryCommand.self, CustomerCommand.self, TokenCommand.self,
                      ChannelCommand.self, ReleaseCommand.self, ImagesCommand.self, ChartCommand.self, SigningKeyCommand.self, DomainCommand.self, RepositoryCommand.self, UserCommand.self, WebhookCommand.self, LicenseFieldCommand.self,
                      InstanceCommand.self, GarbageCollectCommand.self, CacheCommand.self, BundleCommand.self, ConfigCommand.self, SDKCommand.self,
                      Keygen.self])
}
