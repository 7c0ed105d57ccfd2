import NIOCore
import OCI
import RegistryCore
import Storage

/// A chart repository (`<app>/<channel>/<chart>`, or `<app>/<chart>` for Stable) as one
/// recipient sees it: tags are the chart versions promoted to that channel, and each
/// manifest is built for the recipient (customers get their license injected). Who the
/// recipient is, is known at once; what is injected for them is only worked out for a
/// manifest by tag, and blob and digest reads never build anything.
public struct DeliveredChartRepository: RepositoryReader {
    public let name: RepositoryName
    public let chart: ChartRepository
    let audience: ChartDelivery.Audience
    let recipient: @Sendable () async throws -> ChartDelivery.Recipient
    let delivery: ChartDelivery
    let manifestLimit: Int

    /// What has been delivered to this audience through this repository.
    private var delivered: PlacedBlobs { delivery.delivered(to: audience, repository: name.description) }

    public init(name: RepositoryName, chart: ChartRepository, audience: ChartDelivery.Audience,
                recipient: @escaping @Sendable () async throws -> ChartDelivery.Recipient, delivery: ChartDelivery, manifestLimit: Int) {
        self.name = name
        self.chart = chart
        self.audience = audience
        self.recipient = recipient
        self.delivery = delivery
        self.manifestLimit = manifestLimit
    }

    public func manifest(_ reference: ManifestReference, wantBody: Bool) async throws -> ManifestContent {
        switch reference {
        case .tag(let version):
            guard let release = chart.versions[version] else {
                throw RegistryError(.manifestUnknown, "chart version \(version) is not on this channel")
            }
            let (record, bytes) = try await delivery.artifact(release, repository: name.description, for: try await recipient(),
                                                              placement: chart.placements[version])
            return ManifestContent(record: record, bytes: wantBody ? bytes : nil)
        case .digest(let digest):
            guard let stored = try await delivered.readAll(digest, limit: manifestLimit),
                  let record = try await delivery.index.manifest(digest) else {
                throw RegistryError(.manifestUnknown, "manifest unknown to registry")
            }
            await delivery.markUsed(digest, repository: name.description, audience: audience)
            return ManifestContent(record: record, bytes: wantBody ? stored : nil)
        }
    }

    public func blob(_ digest: Digest) async throws -> BlobContent {
        try await delivered.content(digest)
    }

    public func blobSize(_ digest: Digest) async throws -> Int64 {
        try await delivered.requireSize(of: digest)
    }

    public func tags() async throws -> [String] {
        Array(chart.versions.keys)
    }

    public func referrers(_ digest: Digest, artifactType: String?) async throws -> ReferrersIndex {
        ReferrersIndex(entries: [], artifactType: artifactType)
    }
}
