import Charts
import Crypto
import Dispatch
import Foundation
import ImageTooling
import OCI
import RegistryTokens

/// Every parser that takes untrusted input, as a fuzz target: bytes in, and a trap (a crash
/// libFuzzer reports) when the parser crashes, hangs past libFuzzer's timeout, or breaks a
/// property that must hold for any input — a parsed value printing as something that parses
/// back to it, a range inside the blob, an archive that reads back as written.
///
/// `portcullis-fuzz` runs one under libFuzzer (`scripts/fuzz`); the unit tests replay the
/// committed corpus and every input that ever crashed one.
public enum FuzzTargets {
    public static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "reference": reference,
        "digest": digest,
        "range": range,
        "www-authenticate": wwwAuthenticate,
        "manifest": manifest,
        "tar": tar,
        "gzip": gzip,
        "chart": chart,
        "values-injection": valuesInjection,
        "image-finding": imageFinding,
        "chart-images": chartImages,
        "jwt": jwt,
    ]

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("property broken: \(message())") }
    }

    /// Repository names, image references, registry URL paths, allowlist patterns.
    static func reference(_ bytes: [UInt8]) {
        let s = text(bytes)
        if let name = try? RepositoryName(parsing: s) {
            require((try? RepositoryName(parsing: name.description)) == name, "name \(s.debugDescription) does not round-trip")
        }
        if let image = ImageReference.parse(s) {
            require(ImageReference.parse(image.description) == image, "reference \(s.debugDescription) does not round-trip")
            _ = image.proxied(host: "portcullis.example", app: "acme")
            _ = image.inRegistry("mirror.example:5000/offline")
        }
        _ = try? RegistryPath.parse(s)
        if let pattern = try? RepositoryPattern(parsing: s) { _ = pattern.matches("org/app") }
    }

    static func digest(_ bytes: [UInt8]) {
        let s = text(bytes)
        if let d = try? Digest(parsing: s) {
            require((try? Digest(parsing: d.description)) == d, "digest \(s.debugDescription) does not round-trip")
            require(d.hex.count == d.algorithm.hexLength, "digest \(s.debugDescription) has the wrong length")
        }
    }

    /// `Range` against blobs of a few lengths: a partial range always lies inside the blob.
    static func range(_ bytes: [UInt8]) {
        let header = text(bytes)
        for length: Int64 in [0, 1, 512, 1 << 40] {
            if case .partial(let r) = ByteRange.parse(header, length: length) {
                require(r.start >= 0 && r.start <= r.end && r.end < length, "range \(header.debugDescription) outside a blob of \(length)")
            }
        }
    }

    /// `WWW-Authenticate` challenges, Basic `Authorization` headers, token scopes.
    static func wwwAuthenticate(_ bytes: [UInt8]) {
        let s = text(bytes)
        _ = AuthChallenge.parse(s)
        if let basic = BasicCredentials.parse(authorization: s) {
            require(BasicCredentials.parse(authorization: basic.headerValue) == basic, "credentials \(s.debugDescription) do not round-trip")
        }
        _ = RepositoryScope.parseAll(s)
    }

    /// Manifests and indexes, as a registry receives them with each content type.
    static func manifest(_ bytes: [UInt8]) {
        for type in [nil, ManifestMediaType.ociManifest, ManifestMediaType.ociIndex, "application/vnd.docker.distribution.manifest.v2+json"] {
            if let summary = try? ManifestSummary(parsing: bytes, contentType: type) {
                _ = summary.requiredBlobDigests
                _ = summary.referrerArtifactType
            }
        }
    }

    /// Tar archives: what reads also writes, and reads back the same.
    static func tar(_ bytes: [UInt8]) {
        if let entries = try? Tar.read(bytes) {
            // Modes are normalised on writing; paths, kinds and contents must survive.
            func essence(_ e: [TarEntry]) -> [String] { e.map { "\($0.path)|\($0.kind)|\($0.contents.count)|\($0.contents.hashValue)" } }
            require((try? Tar.read(Tar.write(entries))).map(essence) == essence(entries), "archive does not read back as written")
        }
        if bytes.count >= 512 { _ = try? Tar.entryHeader(Array(bytes.prefix(512))) }
    }

    static func gzip(_ bytes: [UInt8]) {
        if let plain = try? Gzip.decompress(bytes, limit: 1 << 20) {
            require(plain.count <= 1 << 20, "expansion limit ignored")
        }
    }

    /// Chart archives as vendors upload them (gzip, tar, Chart.yaml, values).
    static func chart(_ bytes: [UInt8]) {
        if let package = try? ChartPackage.parse(archive: bytes) {
            _ = try? package.replacingValues(package.values ?? "").archive()
        }
    }

    static let replicated: [(String, ValuesInjection.Value)] = [
        ("dockerconfigjson", .string("eyJhdXRocyI6e319")), ("licenseID", .string("lic-123")), ("seats", .integer(5)),
        ("enabled", .boolean(true)), ("licenseFields", .map([("tier", .map([("value", .string("gold"))]))])),
    ]

    /// A vendor's values.yaml with `global.replicated` put in: the result always parses, with the keys there.
    static func valuesInjection(_ bytes: [UInt8]) {
        if let injected = try? ValuesInjection.inject(into: text(bytes), replicated: replicated) {
            require((try? ValuesInjection.inject(into: injected, replicated: replicated)) != nil, "injected values do not parse again")
        }
    }

    /// Images in manifests and standalone values files.
    static func imageFinding(_ bytes: [UInt8]) {
        let s = text(bytes)
        for role in [SourceFile.Role.manifests, .values] {
            let file = SourceFile(path: "fuzz.yaml", text: s, role: role)
            _ = try? ImageFinder.find(in: file)
            _ = try? ImageFinder.podSpecs(in: file)
        }
    }

    /// A chart's images through its templates: the input is a template, then (after a line
    /// `---values---`) the values it renders with.
    static func chartImages(_ bytes: [UInt8]) {
        let parts = text(bytes).components(separatedBy: "\n---values---\n")
        let files = [
            SourceFile(path: "c/Chart.yaml", text: "apiVersion: v2\nname: c\nversion: 1.0.0\n", role: .chartMetadata, chart: "c"),
            SourceFile(path: "c/templates/t.yaml", text: parts[0], role: .template, chart: "c"),
            SourceFile(path: "c/values.yaml", text: parts.count > 1 ? parts[1] : "", role: .values, chart: "c"),
        ]
        if let images = try? ChartImageFinder.find(in: files) {
            _ = try? ImageRewriter.rewrite(files, target: ProxyTarget(host: "p.example", app: "a"), pullSecret: "s")
            _ = images.map(\.valuePaths)
        }
    }

    /// Registry tokens presented as `Bearer`: anything that is not one of our signatures fails.
    static func jwt(_ bytes: [UInt8]) {
        let token = text(bytes)
        let verified = blocking { try? await JWTFuzzing.service.verify(token, audience: "portcullis.example") }
        require(verified == nil, "a token not signed by our key verified: \(token.debugDescription)")
    }

    /// Runs async work from libFuzzer's synchronous callback.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = UnsafeResult<T>()
        Task {
            result.value = await work()
            done.signal()
        }
        done.wait()
        return result.value!
    }

    final class UnsafeResult<T>: @unchecked Sendable {
        // Written by the task before the semaphore is signalled, read after the wait.
        var value: T?
    }
}

/// The token service the JWT target verifies against, with a key of its own: no input can
/// carry a valid signature, so any token that verifies is a bug.
enum JWTFuzzing {
    static let service: RegistryTokenService = FuzzTargets.blocking {
        try! await RegistryTokenService(privateKeysPEM: [P256.Signing.PrivateKey().pemRepresentation], lifetime: 300)
    }
}
