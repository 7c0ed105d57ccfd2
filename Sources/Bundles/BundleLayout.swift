import Charts
import Foundation
import Logging
import NIOCore
import OCI
import PortcullisAPI
import RegistryCore
import Storage

/// The contents of an air-gap bundle as they are gathered, and the tar they are written as.
///
/// Manifests are small and held as bytes; blobs are held as where to read them, and streamed
/// into the archive one chunk at a time. The archive is deterministic: entries in a fixed
/// order, no timestamps, so the same contents always make the same bytes and digest.
struct BundleLayout {
    private var files: [(path: String, bytes: [UInt8])] = []
    private var manifests: [Digest: (bytes: ByteBuffer, mediaType: String)] = [:]
    private var blobs: [Digest: (size: Int64, reader: any RepositoryReader)] = [:]
    /// What `index.json` lists, in the order added: charts, then images.
    private var indexed: [(digest: Digest, refName: String)] = []

    mutating func addFile(_ path: String, bytes: [UInt8]) {
        files.append((path, bytes))
    }

    mutating func addManifest(_ bytes: ByteBuffer, digest: Digest, mediaType: String, refName: String?) {
        manifests[digest] = (bytes, mediaType)
        if let refName { name(digest, as: refName) }
    }

    mutating func addBlob(_ digest: Digest, size: Int64, from reader: any RepositoryReader) {
        if blobs[digest] == nil, manifests[digest] == nil { blobs[digest] = (size, reader) }
    }

    /// Lists a manifest in `index.json` under `refName`.
    mutating func name(_ digest: Digest, as refName: String) {
        if !indexed.contains(where: { $0.digest == digest && $0.refName == refName }) { indexed.append((digest, refName)) }
    }

    /// What identifies the bundle's contents: the document and every object's digest.
    func identity(document: BundleDocument) -> String {
        var hasher = DigestHasher()
        hasher.update(Array((try? Self.encode(document)) ?? []))
        for digest in (Array(manifests.keys) + Array(blobs.keys)).map(\.description).sorted() { hasher.update(Array(digest.utf8)) }
        for file in files { hasher.update(Array(file.path.utf8) + Array(Digest.of(file.bytes).description.utf8)) }
        return hasher.finalize().description
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    private func indexJSON() throws -> [UInt8] {
        let entries: [[String: Any]] = indexed.compactMap { entry in
            guard let manifest = manifests[entry.digest] else { return nil }
            return ["mediaType": manifest.mediaType, "digest": entry.digest.description, "size": manifest.bytes.readableBytes,
                    "annotations": ["org.opencontainers.image.ref.name": entry.refName]]
        }
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": ManifestMediaType.ociIndex, "manifests": entries]
        return Array(try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]))
    }

    /// Writes the archive into a spool file and publishes it under its digest; nothing is
    /// visible unless the whole archive was written.
    func write(document: BundleDocument, to store: any BlobStore, logger: Logger) async throws -> (digest: Digest, size: Int64) {
        let spool = try store.makeSpoolFile()
        var writer = TarSpoolWriter(file: spool)
        do {
            try await writer.add("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
            try await writer.add("index.json", try indexJSON())
            try await writer.add(BundleDocument.fileName, try Self.encode(document))
            for file in files { try await writer.add(file.path, file.bytes) }
            let objects = Set(manifests.keys).union(blobs.keys).sorted { $0.description < $1.description }
            for digest in objects {
                let path = "blobs/\(digest.algorithm.rawValue)/\(digest.hex)"
                if let manifest = manifests[digest] {
                    try await writer.add(path, Array(manifest.bytes.readableBytesView))
                } else if let blob = blobs[digest] {
                    try await writer.begin(path, size: blob.size)
                    var written: Int64 = 0
                    try await Self.stream(digest, from: blob.reader) { chunk in
                        written += Int64(chunk.readableBytes)
                        guard written <= blob.size else { throw BundleError("blob \(digest) is longer than its descriptor says") }
                        try await writer.write(chunk)
                    }
                    guard written == blob.size else { throw BundleError("blob \(digest) is shorter than its descriptor says") }
                    try await writer.finishEntry(size: blob.size)
                }
            }
            let (digest, size) = try await writer.finish()
            try await store.commit(spool, as: digest)
            logger.info("built air-gap bundle", metadata: ["digest": "\(digest)", "bytes": "\(size)", "app": "\(document.app)",
                                                            "release": "\(document.release.sequence)", "customer": "\(document.customerId)"])
            return (digest, size)
        } catch {
            store.discard(spool)
            throw error
        }
    }

    /// Reads a blob from start to end, as stored or as it arrives.
    static func stream(_ digest: Digest, from reader: any RepositoryReader, _ body: (ByteBuffer) async throws -> Void) async throws {
        let chunk = 1 << 20
        var offset: Int64 = 0
        switch try await reader.blob(digest) {
        case .complete(let stored):
            while offset < stored.length {
                let buffer = try await stored.read(at: offset, maxCount: chunk)
                guard buffer.readableBytes > 0 else { break }
                offset += Int64(buffer.readableBytes)
                try await body(buffer)
            }
        case .arriving(let arriving):
            while true {
                let buffer = try await arriving.read(at: offset, maxCount: chunk)
                guard buffer.readableBytes > 0 else { break }
                offset += Int64(buffer.readableBytes)
                try await body(buffer)
            }
        }
    }
}

/// Appends tar entries to a spool file, hashing the archive as it goes.
struct TarSpoolWriter {
    let file: BlobFile
    private var offset: Int64 = 0
    private var hasher = DigestHasher()

    init(file: BlobFile) {
        self.file = file
    }

    mutating func add(_ path: String, _ bytes: [UInt8]) async throws {
        try await begin(path, size: Int64(bytes.count))
        try await write(ByteBuffer(bytes: bytes))
        try await finishEntry(size: Int64(bytes.count))
    }

    mutating func begin(_ path: String, size: Int64) async throws {
        try await write(ByteBuffer(bytes: try Tar.fileHeader(path: path, size: size)))
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        buffer.withUnsafeReadableBytes { hasher.update($0) }
        try await file.write(buffer, at: offset)
        offset += Int64(buffer.readableBytes)
    }

    mutating func finishEntry(size: Int64) async throws {
        let padding = Tar.padding(afterContentOf: size)
        if !padding.isEmpty { try await write(ByteBuffer(bytes: padding)) }
    }

    mutating func finish() async throws -> (Digest, Int64) {
        try await write(ByteBuffer(bytes: Tar.endOfArchive))
        try await file.sync()
        return (hasher.finalize(), offset)
    }
}
