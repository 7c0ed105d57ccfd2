import ArgumentParser
import AsyncHTTPClient
import Charts
import Foundation
import NIOCore
import NIOSSL
import OCI
import PortcullisAPI

struct BundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle", abstract: "Air-gap bundles on the customer's side: look inside, push into your own registry.",
        discussion: "A bundle comes from `portcullis release bundle` (the vendor) or GET /bundles/<app>/<sequence> with the license.",
        subcommands: [Show.self, Push.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a bundle's charts and images.")
        @Argument(help: "The bundle (.tar).") var file: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let bundle = try BundleFile(path: file)
            if output.output == .json { return Output.json(bundle.document) }
            let d = bundle.document
            print("\(d.app) release \(d.release.sequence) (\(d.release.version), \(d.release.channel)) for \(d.customerName)")
            Output.print(d.charts, format: .table)
            print()
            Output.print(d.images, format: .table)
        }
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Push every image and chart of a bundle into a registry, digests preserved.", usage: "portcullis bundle push <file> <registry> [<options>]",
            discussion: """
                REGISTRY is host[:port][/prefix]. Images go to REGISTRY/<their repository> (without the registry they \
                came from, and without Portcullis's proxy/<app>/<upstream>/), charts to REGISTRY/charts/<name>. \
                Then point the charts at REGISTRY with the `images rewrite` command printed at the end.
                """)
        @Argument(help: "The bundle (.tar).") var file: String
        @Argument(help: "Your registry: host[:port][/prefix].") var registry: String
        @Option(help: "Registry user name.") var username: String?
        @Option(help: "Registry password (or --password-stdin).") var password: String?
        @Flag(help: "Read the registry password from standard input.") var passwordStdin = false
        @Flag(help: "Talk plain HTTP to the registry (a registry on a trusted network without TLS).") var plainHTTP = false
        @Option(help: "PEM file of the CA that signed the registry's certificate (also SSL_CERT_FILE).") var caCert: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let bundle = try BundleFile(path: file)
            var secret = password
            if passwordStdin { secret = readLine(strippingNewline: true) }
            let trimmed = registry.hasSuffix("/") ? String(registry.dropLast()) : registry
            let host = String(trimmed.split(separator: "/", maxSplits: 1).first ?? "")
            let prefix = trimmed.dropFirst(host.count).drop { $0 == "/" }
            guard !host.isEmpty else { throw ValidationError("REGISTRY is host[:port][/prefix]") }
            var configuration = HTTPClient.Configuration()
            if let ca = caCert ?? ProcessInfo.processInfo.environment["SSL_CERT_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.trustRoots = .file(ca)
                configuration.tlsConfiguration = tls
            }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            defer { _ = client.shutdown() }
            let pusher = RegistryPusher(scheme: plainHTTP ? "http" : "https", host: host, username: username, password: secret, client: client)
            func repository(_ path: String) -> String { prefix.isEmpty ? path : "\(prefix)/\(path)" }

            var mapping: [(String, String)] = []
            var uploaded = 0
            for image in bundle.document.images {
                let repo = repository(image.repository)
                uploaded += try await bundle.push(manifest: image.digest, to: repo, reference: image.tag.isEmpty ? image.digest : image.tag,
                                                  with: pusher)
                let pushed = "\(host)/\(repo)" + (image.tag.isEmpty ? "@\(image.digest)" : ":\(image.tag)")
                mapping.append((image.original, pushed))
            }
            for chart in bundle.document.charts {
                // An OCI tag has no `+`: build metadata goes as `_`, as Helm pushes and looks it up.
                uploaded += try await bundle.push(manifest: chart.digest, to: repository(chart.repository),
                                                  reference: ChartPackage.tag(forVersion: chart.version), with: pusher)
                mapping.append(("chart \(chart.name) \(chart.version)", "oci://\(host)/\(repository(chart.repository)) --version \(chart.version)"))
            }
            if output.output == .json {
                return Output.json(mapping.map { ["from": $0.0, "to": $0.1] })
            }
            for (from, to) in mapping { print("\(from) -> \(to)") }
            print("\n\(bundle.document.images.count) image(s) and \(bundle.document.charts.count) chart(s) in \(host); \(uploaded) blob(s) uploaded")
            print("Point the charts at it:\n  portcullis images rewrite <chart directory> --registry \(trimmed)")
        }
    }
}

/// A bundle on disk: where each entry of the tar is, read without loading blobs into memory.
struct BundleFile {
    let path: String
    let document: BundleDocument
    private let entries: [String: (offset: UInt64, size: Int64)]
    private let manifestTypes: [String: String]

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
        defer { try? handle.close() }
        var entries: [String: (UInt64, Int64)] = [:]
        var offset: UInt64 = 0
        var longName: String?
        while true {
            try handle.seek(toOffset: offset)
            guard let block = try handle.read(upToCount: Tar.blockSize), block.count == Tar.blockSize else {
                throw CLIError("\(path) ends in the middle of an entry: not a whole bundle (was the download interrupted?)")
            }
            do {
                guard let header = try Tar.entryHeader([UInt8](block)) else { break }
                if header.isExtendedHeader, header.size < 1 << 20 {
                    longName = try Tar.paxPath([UInt8](try handle.read(upToCount: Int(header.size)) ?? Data()))
                } else {
                    if header.isFile { entries[longName ?? header.path] = (offset + UInt64(Tar.blockSize), header.size) }
                    longName = nil
                }
                offset += UInt64(Tar.blockSize) + UInt64(header.paddedSize)
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError("\(path) is not a bundle: \(error)")
            }
        }
        self.entries = entries
        func read(_ name: String) throws -> Data {
            guard let entry = entries[name], entry.1 < 64 << 20 else { throw CLIError("\(path) is not a Portcullis bundle: it has no \(name)") }
            try handle.seek(toOffset: entry.0)
            return try handle.read(upToCount: Int(entry.1)) ?? Data()
        }
        do {
            document = try JSONDecoder().decode(BundleDocument.self, from: try read(BundleDocument.fileName))
        } catch let error as CLIError { throw error } catch {
            throw CLIError("\(path): bundle.json is not readable: \(error)")
        }
        let index = try JSONSerialization.jsonObject(with: try read("index.json")) as? [String: Any]
        var types: [String: String] = [:]
        for entry in index?["manifests"] as? [[String: Any]] ?? [] {
            if let digest = entry["digest"] as? String, let type = entry["mediaType"] as? String { types[digest] = type }
        }
        manifestTypes = types
    }

    private func blobPath(_ digest: String) -> String {
        "blobs/" + digest.replacingOccurrences(of: ":", with: "/")
    }

    func bytes(_ digest: String) throws -> [UInt8] {
        guard let entry = entries[blobPath(digest)] else { throw CLIError("\(path) lacks \(digest)") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
        defer { try? handle.close() }
        try handle.seek(toOffset: entry.offset)
        let data = try handle.read(upToCount: Int(entry.size)) ?? Data()
        let bytes = [UInt8](data)
        guard (try? Digest(parsing: digest)).map({ Digest.of(bytes, algorithm: $0.algorithm) == $0 }) ?? false else {
            throw CLIError("\(path): \(digest) does not match its content; the bundle is damaged")
        }
        return bytes
    }

    /// Pushes a manifest (an index with its children) and every blob it names that the bundle
    /// holds, children before parents. Returns how many blobs were uploaded.
    func push(manifest digest: String, to repository: String, reference: String, with pusher: RegistryPusher) async throws -> Int {
        let bytes = try bytes(digest)
        let summary: ManifestSummary
        do { summary = try ManifestSummary(parsing: bytes, contentType: manifestTypes[digest]) } catch {
            throw CLIError("\(path): manifest \(digest) is not valid: \(error)")
        }
        var uploaded = 0
        for child in summary.manifests {
            uploaded += try await push(manifest: child.digest.description, to: repository, reference: child.digest.description, with: pusher)
        }
        for blob in [summary.config?.digest].compactMap({ $0 }) + summary.layers.map(\.digest) {
            // Layers that may not be redistributed were never put in the bundle.
            guard let entry = entries[blobPath(blob.description)] else { continue }
            if try await pusher.pushBlob(blob.description, size: entry.size, repository: repository, body: {
                .stream(FileRegion(path: path, offset: entry.offset, length: entry.size), length: .known(entry.size))
            }) { uploaded += 1 }
        }
        try await pusher.pushManifest(bytes, mediaType: summary.mediaType, reference: reference, repository: repository)
        return uploaded
    }
}

/// A stretch of a file as a stream of buffers, read as the upload goes.
struct FileRegion: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: UInt64
    let length: Int64

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?
        var left: Int64

        mutating func next() async throws -> ByteBuffer? {
            guard left > 0, let handle else { return nil }
            guard let data = try handle.read(upToCount: Int(Swift.min(left, 1 << 20))), !data.isEmpty else {
                throw CLIError("the bundle ended early")
            }
            left -= Int64(data.count)
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        let handle = FileHandle(forReadingAtPath: path)
        try? handle?.seek(toOffset: offset)
        return AsyncIterator(handle: handle, left: length)
    }
}

extension BundleDocument.Chart: TableRow {
    static let headers = ["CHART", "VERSION", "FILE", "DIGEST"]
    var cells: [String] { [name, version, file, digest] }
}

extension BundleDocument.Image: TableRow {
    static let headers = ["IMAGE", "VIA PORTCULLIS", "DIGEST"]
    var cells: [String] { [original, proxy, digest] }
}
