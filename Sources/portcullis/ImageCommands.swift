import ArgumentParser
import Foundation
import ImageTooling
import Logging
import OCI
import PortcullisAPI
import Upstream

struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "Find and rewrite image references.",
                                                    subcommands: [List.self, Rewrite.self, PostRender.self])

    /// `--upstream host=name` pairs: registry host (canonical) → registry name.
    static func upstreamNames(_ pairs: [String]) throws -> [String: String] {
        var names: [String: String] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--upstream takes host=name") }
            names[canonicalRegistryHost(parts[0])] = parts[1]
        }
        return names
    }

    static func load(_ paths: [String]) throws -> [SourceFile] {
        var files: [SourceFile] = []
        for path in paths {
            do { files += try SourceLoader.load(path) } catch { throw CLIError(error.description) }
        }
        return files
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List every image reference with file and line.")
        @Argument(help: "Chart directories or .tgz archives, manifest directories or files.") var paths: [String]
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let files = try ImagesCommand.load(paths)
            let listed: [ListedImage]
            do { listed = try ImageListing.list(files) } catch { throw CLIError(error.description) }
            Output.print(listed.map { FoundImage(file: $0.file, line: $0.line, image: $0.image, context: $0.context) }, format: output.output)
        }
    }

    struct Rewrite: AsyncParsableCommand {
        /// The app's first custom domain, when the API can be reached and the app has one.
        func appDomain(_ app: String) async throws -> String? {
            guard let api = try? APIClient(client) else { return nil }
            return try await api.call(API.domains).first { $0.app == app }?.name
        }

        static let configuration = CommandConfiguration(
            abstract: "Point image references at the proxy and add the pull secret.",
            discussion: "Files are edited in place (comments and layout kept) unless --kustomize is given; nothing is written when any input is invalid.")
        @Argument(help: "Chart directories, manifest directories or files.") var paths: [String]
        @Option(help: "App slug (env PORTCULLIS_APP; not with --registry).") var app: String?
        @Option(help: "Point images at this registry instead, host[:port][/prefix], where `bundle push` put an air-gap bundle.")
        var registry: String?
        @Option(help: "Portcullis host clients pull from (env PORTCULLIS_PROXY_HOST; default: the app's custom domain).")
        var proxyHost: String?
        @Option(name: .customLong("upstream"), help: "host=name: use a registry's name in proxy paths (required for hosts with a port).")
        var upstreams: [String] = []
        @OptionGroup var client: ClientOptions
        @Option(help: "Name of the image pull secret to reference.") var pullSecret = ImageRewriter.defaultPullSecret
        @Flag(help: "Do not add imagePullSecrets or a pull-secret template.") var noPullSecrets = false
        @Flag(help: "Write kustomization.yaml with an images: patch instead of editing the manifests.") var kustomize = false
        @Flag(help: "Rewrite only images an anonymous client cannot pull.") var onlyPrivate = false
        @Option(name: .customLong("plain-http"), help: "Registry host to probe over plain HTTP (repeatable).") var plainHTTP: [String] = []
        @Flag(help: "Show the changes without writing.") var dryRun = false

        func target() async throws -> ProxyTarget {
            if let registry {
                guard app == nil, proxyHost == nil, upstreams.isEmpty, !onlyPrivate else {
                    throw ValidationError("--registry points images at your own registry: it goes without --app, --proxy-host, --upstream and --only-private")
                }
                return .mirror(registry.hasSuffix("/") ? String(registry.dropLast()) : registry)
            }
            guard let app = app ?? AppOption.fromEnvironment else {
                throw ValidationError("no app: pass --app or set PORTCULLIS_APP (or --registry for an air-gapped registry)")
            }
            var host = proxyHost ?? ProcessInfo.processInfo.environment["PORTCULLIS_PROXY_HOST"]
            if host == nil { host = try await appDomain(app) }
            guard let host else {
                throw ValidationError("--proxy-host is required (or set PORTCULLIS_PROXY_HOST) unless the app has a custom domain")
            }
            return ProxyTarget(host: host, app: app, upstreamNames: try ImagesCommand.upstreamNames(upstreams))
        }

        func run() async throws {
            let target = try await target()
            if paths.contains(where: { $0.hasSuffix(".tgz") || $0.hasSuffix(".tar.gz") }) {
                throw ValidationError("unpack chart archives first (helm pull --untar); rewrite edits files in place")
            }
            let files = try ImagesCommand.load(paths)
            let privateImages = onlyPrivate ? try await probe(files) : nil
            let include: (ImageReference) -> Bool = { privateImages?.contains($0.description) ?? true }

            if kustomize {
                var occurrences: [ImageOccurrence] = []
                for file in files where !KustomizeOverrides.isKustomization(file.path) { occurrences += (try? ImageFinder.find(in: file)) ?? [] }
                let base = FileManager.default.fileExists(atPath: paths[0] + "/.") ? paths[0] : (paths[0] as NSString).deletingLastPathComponent
                let written = base + "/kustomization.yaml"
                let text: String
                do {
                    let resources = files.filter { $0.role == .manifests && !KustomizeOverrides.isKustomization($0.path) }
                        .map { String($0.path.hasPrefix(base + "/") ? $0.path.dropFirst(base.count + 1) : Substring($0.path)) }
                    text = try ImageRewriter.kustomization(resources: resources, occurrences: occurrences.filter { include($0.reference) }, target: target)
                } catch { throw CLIError(error.description) }
                // An existing kustomization is the user's (its resources, patches, overrides): never replaced.
                if let existing = KustomizeOverrides.fileNames.map({ base + "/" + $0 }).first(where: { FileManager.default.fileExists(atPath: $0) }), !dryRun {
                    let images = text.components(separatedBy: "\nimages:\n").dropFirst().first.map { "images:\n" + $0 } ?? "(no images to add)\n"
                    throw CLIError("\(existing) exists and --kustomize writes a new one; add these entries to its images: instead (or use --dry-run):\n"
                                   + images)
                }
                for o in occurrences where include(o.reference) && !target.isOnProxy(o.reference) {
                    if case .argument = o.form {
                        warn("\(o.file):\(o.line): warning: kustomize's images: does not reach \(o.reference) in a container argument (\(o.context)); left as it is")
                    } else if o.context.contains("ephemeralContainers") {
                        warn("\(o.file):\(o.line): warning: kustomize's images: does not reach ephemeral containers (\(o.context)); left as it is")
                    }
                }
                if !noPullSecrets {
                    let missing = files.flatMap { (try? ImageFinder.podSpecs(in: $0)) ?? [] }.filter { !$0.pullSecrets.contains(pullSecret) }
                    for site in missing {
                        warn("\(site.file):\(site.containersLine): warning: \(site.workload) names no imagePullSecrets \(pullSecret); "
                             + "--kustomize adds none (add it in a patch, or rewrite without --kustomize)")
                    }
                }
                if dryRun { print(text, terminator: "") } else { try write(written, text) ; print("wrote \(written)") }
                return
            }
            let result: ImageRewriter.Result
            do {
                result = try ImageRewriter.rewrite(files, target: target, include: include, pullSecret: noPullSecrets ? nil : pullSecret)
            } catch { throw CLIError(error.description) }
            let broken = KustomizeOverrides.conflicts(result.changes, with: KustomizeOverrides.entries(in: files))
            guard broken.isEmpty else { throw CLIError("nothing written: " + broken.joined(separator: "\n")) }
            for change in result.changes { print("\(change.file):\(change.line): \(change.from) -> \(change.to)") }
            for image in result.unresolved {
                FileHandle.standardError.write(Data("\(image.location): warning: cannot tell which image \(image.fieldDescription) deploys (\(image.problem ?? "unknown")); left as it is\n".utf8))
            }
            for note in result.notes { print(note) }
            for file in result.files where !dryRun {
                try write(file.path, file.text)
            }
            let added = result.files.filter { f in !files.contains { $0.path == f.path } }
            for file in added { print("\(file.path): added pull-secret template") }
            print("\(result.changes.count) image reference(s) rewritten, \(result.files.count) file(s) \(dryRun ? "would change" : "changed")")
        }

        func probe(_ files: [SourceFile]) async throws -> Set<String> {
            let http = HTTPClientTransport.makeHTTPClient(connectTimeout: .seconds(10), readTimeout: .seconds(30))
            let probe = VisibilityProbe(client: HTTPUpstreamRegistry(http: http, responseTimeout: .seconds(30), logger: Logger(label: "probe")),
                                        plainHTTPHosts: Set(plainHTTP))
            var privateImages = Set<String>()
            do {
                for listed in try ImageListing.list(files) {
                    guard let reference = ImageReference.parse(listed.image) else { continue }
                    if try await probe.visibility(of: reference) == .private { privateImages.insert(reference.description) }
                }
            } catch {
                try? await http.shutdown()
                throw CLIError("probe failed: \(error)")
            }
            try await http.shutdown()
            return privateImages
        }

        /// Temp file and rename: a reader sees the old file or the new one, never half of it.
        func write(_ path: String, _ text: String) throws {
            let tmp = path + ".portcullis-tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else { throw CLIError("cannot write \(path)") }
            guard rename(tmp, path) == 0 else { throw CLIError("cannot replace \(path)") }
        }
    }
}

struct ChartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chart", abstract: "Chart checks.", subcommands: [Lint.self])

    struct Lint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a chart is ready for the proxy; exit 1 on errors.", usage: "portcullis chart lint <chart> [<options>]")
        @Argument(help: "Chart directory or .tgz.") var chart: String
        @OptionGroup var app: AppOption
        @Option(help: "Portcullis host images must use (env PORTCULLIS_PROXY_HOST; any host when unset).") var proxyHost: String?
        @Flag(help: "Count every warning as an error.") var strict = false
        @Option(name: .customLong("accept-unknown"), help: ArgumentHelp(
            "An image the linter cannot tell, accepted after checking it by hand: FILE:LINE as the finding names it, or all (repeatable).",
            valueName: "file:line"))
        var acceptUnknown: [String] = []
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let findings: [LintFinding]
            let app = try app.slug()
            do {
                findings = try ChartLinter.lint(try SourceLoader.load(chart), app: app,
                                                proxyHost: proxyHost ?? ProcessInfo.processInfo.environment["PORTCULLIS_PROXY_HOST"], strict: strict,
                                                acceptUnknown: Set(acceptUnknown))
            } catch { throw CLIError(error.description) }
            if output.output == .json {
                Output.json(findings)
            } else {
                for f in findings { print(f.description) }
                print(findings.isEmpty ? "chart is ready for the proxy" : "\(findings.count) problem(s)")
            }
            if findings.contains(where: { $0.severity == .error }) { throw ExitCode(1) }
        }
    }
}

/// A Helm post-renderer: whatever a chart's templates do, the manifests Helm is about to apply
/// name every image through the proxy and every pod the pull secret.
struct PostRender: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "post-render",
        abstract: "Helm post-renderer: rewrite every image of the manifests on stdin to the proxy and add the pull secret.", usage: "portcullis images post-render [<options>]",
        discussion: """
            Reads the manifests Helm rendered on standard input and writes them to standard output with every container image \
            pointing at the proxy and every pod naming the pull secret. For charts whose templates the static rewrite cannot \
            follow. Helm 3: helm install --post-renderer portcullis --post-renderer-args images --post-renderer-args post-render \
            --post-renderer-args --app=APP --post-renderer-args --proxy-host=HOST. Helm 4: install the plugin in \
            deploy/helm-plugin/portcullis-post-renderer and pass --post-renderer portcullis-post-renderer with the same arguments.
            """)
    @Option(help: "App slug (env PORTCULLIS_APP).") var app: String?
    @Option(help: "Portcullis host clients pull from (env PORTCULLIS_PROXY_HOST).") var proxyHost: String?
    @Option(name: .customLong("upstream"), help: "host=name: use a registry's name in proxy paths (required for hosts with a port).")
    var upstreams: [String] = []
    @Option(help: "Name of the image pull secret pods must name.") var pullSecret = ImageRewriter.defaultPullSecret
    @Flag(help: "Do not add imagePullSecrets.") var noPullSecrets = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let app = app ?? AppOption.fromEnvironment else {
            throw ValidationError("no app: pass --app or set PORTCULLIS_APP")
        }
        guard let host = proxyHost ?? environment["PORTCULLIS_PROXY_HOST"], !host.isEmpty else {
            throw ValidationError("no proxy host: pass --proxy-host or set PORTCULLIS_PROXY_HOST")
        }
        let names = try ImagesCommand.upstreamNames(upstreams)
        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: input, encoding: .utf8) else { throw CLIError("the manifests on standard input are not UTF-8 text") }
        let target = ProxyTarget(host: host, app: app, upstreamNames: names)
        // Each document on its own, split as Helm splits manifests: a `---` begins one even with
        // text after it on its line (`---# comment`), which a YAML parser would refuse.
        var output = ""
        var start = text.startIndex
        var index = 0
        for separator in Self.separators(text) + [text.endIndex..<text.endIndex] {
            let document = String(text[start..<separator.lowerBound])
            index += 1
            if document.contains(where: { !$0.isWhitespace }) {
                let file = SourceFile(path: "<stdin> document \(index)", text: document, role: .manifests)
                do {
                    let result = try ImageRewriter.rewrite([file], target: target, pullSecret: noPullSecrets ? nil : pullSecret)
                    output += result.files.first?.text ?? document
                } catch { throw CLIError(error.description) }
            } else {
                output += document
            }
            output += text[separator]
            start = separator.upperBound
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }

    /// Where Helm's manifest splitter (`(?:^|\s*\n)---\s*`) separates documents.
    static func separators(_ text: String) -> [Range<String.Index>] {
        let pattern = try! NSRegularExpression(pattern: "(?:^|\\s*\\n)---\\s*")
        return pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text) }
    }
}

/// A warning on standard error, so what goes to standard output stays the result.
func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
