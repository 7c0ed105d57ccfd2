import ArgumentParser
import PortcullisAPI

struct GarbageCollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove blobs of vendor repositories that no manifest references, and customers' charts nobody pulls.",
        usage: "portcullis gc [<options>]",
        discussion: """
            Safe while pushes run: a blob pushed within the grace period survives even when no manifest names it \
            yet, and a manifest being pushed renews the blobs it names. Bytes are deleted only when nothing else \
            (another repository, a release, a delivered chart, the proxy cache) holds the same digest. Proxied \
            content is never collected here: it is cache, bounded by `serve --cache-max-size`.

            A customer's chart is built for each pull recipe (chart, channel, host, license values) and kept; \
            charts not pulled for --charts-unused-for are forgotten with their own blobs. Nothing is lost: the \
            next pull of the same recipe builds the same bytes under the same digest.
            """)

    @Flag(help: "Report what would be removed without removing anything.") var dryRun = false
    @Option(help: "Keep unreferenced blobs pushed less than this long ago, e.g. 1h or 0s.") var grace = "1h"
    @Option(help: "Forget customers' delivered charts not pulled for this long (at least 1h).") var chartsUnusedFor = "30d"
    @OptionGroup var client: ClientOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let graceSeconds = try Duration.parse(grace, option: "--grace")
        let chartIdle = try Duration.parse(chartsUnusedFor, option: "--charts-unused-for")
        guard chartIdle >= 3600 else {
            throw ValidationError("--charts-unused-for must be at least 1h: replicas mark a chart in use only every few minutes")
        }
        let body = try await APIClient(client).call(API.collectGarbage, body: GarbageCollectionRequest(
            dryRun: dryRun, graceSeconds: Int(graceSeconds), chartsUnusedForSeconds: Int(chartIdle)))
        if output.output == .json { return Output.json(body) }
        for claim in body.unreferenced { print("\(body.dryRun ? "would remove" : "removed") \(claim.repository)@\(claim.digest)") }
        print("""
            \(body.dryRun ? "dry run: " : "")\(body.unreferenced.count) unreferenced blob(s) \(body.dryRun ? "would be " : "")removed from repositories, \
            \(body.forgottenCharts ?? 0) delivered chart(s) not pulled for \(chartsUnusedFor) \(body.dryRun ? "would be " : "")forgotten, \
            \(body.deletedBlobs.count) blob(s) \(body.dryRun ? "would be " : "")deleted, \(body.freedBytes) bytes \
            \(body.dryRun ? "to free" : "freed"); \(body.keptInGrace) kept within the grace period
            """)
    }
}

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "The proxy cache.", subcommands: [Status.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the proxy cache's size and limit.", usage: "portcullis cache status [<options>]")
        @OptionGroup var client: ClientOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let body = try await APIClient(client).call(API.cache)
            if output.output == .json { return Output.json(body) }
            print("cache: \(body.bytes) bytes; limit: \(body.limitBytes.map { "\($0) bytes" } ?? "none (unbounded)")")
        }
    }
}
