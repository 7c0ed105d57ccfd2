import Foundation

/// `bundle.json` at the root of an air-gap bundle: what the release holds for one customer.
///
/// The archive is an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) with
/// every image and every chart (as a Helm OCI artifact), plus each chart's `.tgz` under
/// `charts/` for `helm install` from a file. `index.json` lists the same objects, each with
/// `org.opencontainers.image.ref.name` set to its reference in this document.
public struct BundleDocument: Codable, Sendable, Equatable {
    public struct Release: Codable, Sendable, Equatable {
        public var sequence: Int
        public var version: String
        public var channel: String

        public init(sequence: Int, version: String, channel: String) {
            self.sequence = sequence
            self.version = version
            self.channel = channel
        }
    }

    public struct Chart: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        /// The archive inside the bundle, `charts/<name>-<version>.tgz`.
        public var file: String
        /// The chart's OCI manifest in the layout.
        public var digest: String
        /// Where `bundle push` puts it: `<registry>/charts/<name>:<version>`.
        public var repository: String

        public init(name: String, version: String, file: String, digest: String, repository: String) {
            self.name = name
            self.version = version
            self.file = file
            self.digest = digest
            self.repository = repository
        }
    }

    public struct Image: Codable, Sendable, Equatable {
        /// As the chart names it.
        public var original: String
        /// The same image through Portcullis, with the customer's license.
        public var proxy: String
        /// Where `bundle push` puts it, under the customer's registry.
        public var repository: String
        /// The tag pushed (the original's, or one made from its digest).
        public var tag: String
        /// The manifest or index in the layout: the original's own digest unless platforms were chosen.
        public var digest: String
        public var mediaType: String

        public init(original: String, proxy: String, repository: String, tag: String, digest: String, mediaType: String) {
            self.original = original
            self.proxy = proxy
            self.repository = repository
            self.tag = tag
            self.digest = digest
            self.mediaType = mediaType
        }
    }

    public static let fileName = "bundle.json"
    public var schemaVersion = 1
    public var app: String
    public var release: Release
    public var customerId: String
    public var customerName: String
    /// `os/arch[/variant]` chosen at bundle time; empty: every platform of each image.
    public var platforms: [String]
    public var charts: [Chart]
    public var images: [Image]

    public init(app: String, release: Release, customerId: String, customerName: String, platforms: [String], charts: [Chart], images: [Image]) {
        self.app = app
        self.release = release
        self.customerId = customerId
        self.customerName = customerName
        self.platforms = platforms
        self.charts = charts
        self.images = images
    }
}
