import Charts
import Foundation
import Licensing
import OCI
import Storage
import Synchronization

/// A release as `release ls` shows it.
public struct ReleaseSummary: Sendable {
    public var release: ReleaseRecord
    public var charts: [ReleaseChartRecord]
    /// Names of the channels whose latest promotion is this release.
    public var activeChannels: [String]
    /// What the vendor should know about how it was made (a chart version released before).
    public var warnings: [String] = []
}

/// A chart repository: `<app>/<channel>/<chart>`, or `<app>/<chart>` for Stable.
public struct ChartRepository: Sendable, Equatable {
    public var appID: String
    public var channel: ChannelRecord
    public var chart: String
    /// Chart version as an OCI tag (`ChartPackage.tag(forVersion:)`) → the chart in the release
    /// most recently promoted with that version.
    public var versions: [String: ReleaseChartRecord]
    /// Chart version as an OCI tag → the release and promotion it comes from on this channel.
    public var placements: [String: ReleasePlacement] = [:]
}

/// Where a release stands on a channel: what the in-cluster SDK is told about the release it
/// runs, and what it compares updates with.
public struct ReleasePlacement: Sendable, Equatable {
    public var releaseSequence: Int
    /// The position of this promotion on the channel, from 0.
    public var channelSequence: Int
    /// The version the release was promoted with.
    public var versionLabel: String
    public var releaseNotes: String
    public var createdAt: Date
    public var channelID: String
    public var channelName: String

    public init(releaseSequence: Int, channelSequence: Int, versionLabel: String, releaseNotes: String, createdAt: Date, channelID: String,
                channelName: String) {
        self.releaseSequence = releaseSequence
        self.channelSequence = channelSequence
        self.versionLabel = versionLabel
        self.releaseNotes = releaseNotes
        self.createdAt = createdAt
        self.channelID = channelID
        self.channelName = channelName
    }

    /// A channel's promotions in order, as placements.
    public static func onChannel(_ channel: ChannelRecord, promotions: [PromotionRecord], releases: [ReleaseRecord]) -> [ReleasePlacement] {
        let byID = Dictionary(releases.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return promotions.filter { $0.channelID == channel.id }.enumerated().compactMap { index, p in
            guard let release = byID[p.releaseID] else { return nil }
            return ReleasePlacement(releaseSequence: release.sequence, channelSequence: index, versionLabel: p.version,
                                    releaseNotes: p.notes ?? release.notes ?? "", createdAt: release.createdAt, channelID: channel.id,
                                    channelName: channel.name)
        }
    }

    /// How many promotions on the channel came after the one of `releaseSequence` (or, when
    /// that release was never promoted there, how many promotions are of newer releases).
    /// The placements of a channel after the release running: after its last placement there,
    /// or, when it was never placed there (the customer moved to this channel), every placement
    /// of a later release. What `behind` counts, listed.
    public static func after(_ placements: [ReleasePlacement], releaseSequence: Int) -> [ReleasePlacement] {
        if let last = placements.lastIndex(where: { $0.releaseSequence == releaseSequence }) {
            return Array(placements[(last + 1)...])
        }
        return placements.filter { $0.releaseSequence > releaseSequence }
    }

    public static func behind(_ placements: [ReleasePlacement], releaseSequence: Int) -> Int {
        if let last = placements.lastIndex(where: { $0.releaseSequence == releaseSequence }) {
            return placements.count - last - 1
        }
        return Set(placements.filter { $0.releaseSequence > releaseSequence }.map(\.releaseSequence)).count
    }
}

public struct CatalogError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Channels, releases and promotions of each app, and which charts each channel serves.
public struct ReleaseCatalog: Sendable {
    public static let defaultChannels = ["Unstable", "Beta", "Stable"]
    public static let stable = "Stable"

    let store: any ReleaseStore
    let blobs: any BlobStore
    /// What every chart pull reads (an app's channels, charts and promotions), kept this long;
    /// this process's own changes are seen at once.
    let snapshots: CatalogSnapshots

    public init(store: any ReleaseStore, blobs: any BlobStore, refreshInterval: TimeInterval = 0) {
        self.store = store
        self.blobs = blobs
        snapshots = CatalogSnapshots(refreshInterval: refreshInterval)
    }

    // MARK: Channels

    public func createDefaultChannels(appID: String) async throws {
        for (i, name) in Self.defaultChannels.enumerated() {
            // Distinct creation times keep the default channels in a stable order.
            try await store.createChannel(ChannelRecord(appID: appID, name: name, slug: Slug.derive(from: name),
                                                        createdAt: Date().addingTimeInterval(Double(i) / 1000)))
        }
    }

    public func createChannel(appID: String, name: String) async throws -> ChannelRecord {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        let slug = Slug.derive(from: trimmed)
        guard !trimmed.isEmpty, !slug.isEmpty, trimmed.count <= 63 else { throw CatalogError("channel name must be 1-63 characters with a letter or digit") }
        let existing = try await store.channels(appID: appID)
        if existing.contains(where: { $0.name.lowercased() == trimmed.lowercased() || $0.slug == slug }) {
            throw StoreError.conflict("channel \(trimmed) already exists")
        }
        let channel = ChannelRecord(appID: appID, name: trimmed, slug: slug)
        try await store.createChannel(channel)
        snapshots.invalidate(appID)
        return channel
    }

    public func channels(appID: String) async throws -> [ChannelRecord] {
        try await store.channels(appID: appID)
    }

    /// The refusal for a channel no name or slug matches, naming the ones there are.
    func unknownChannel(_ name: String, appID: String) async throws -> CatalogError {
        let names = try await store.channels(appID: appID).map(\.name)
        return CatalogError("unknown channel \(name.debugDescription): channels are named by name, slug or ID; this app's are "
                            + names.joined(separator: ", "))
    }

    /// A channel by name or slug, ignoring case, or by the ID `channel ls` shows.
    public func channel(appID: String, named name: String) async throws -> ChannelRecord? {
        let wanted = name.lowercased()
        let channels = try await store.channels(appID: appID)
        return channels.first { $0.name.lowercased() == wanted || $0.slug == wanted } ?? channels.first { $0.id == name }
    }

    // MARK: Releases

    /// Validates and stores a release of chart archives; optionally promotes it at once.
    /// Release notes past this are a file pasted by mistake: the SDK hands notes to the app,
    /// and the portals show them.
    public static let longestNotes = 64 * 1024

    public func createRelease(appID: String, archives: [[UInt8]], version: String, notes: String?, promoteTo: String?) async throws -> Int {
        guard SemVer.isValidChartVersion(version) else { throw CatalogError("version \(version.debugDescription) is not SemVer (e.g. 1.2.3 or v1.2.3)") }
        guard (notes?.utf8.count ?? 0) <= Self.longestNotes else { throw CatalogError("release notes are longer than 64 KiB") }
        guard !archives.isEmpty else { throw CatalogError("a release needs at least one chart") }
        var target: ChannelRecord?
        if let promoteTo {
            guard let found = try await channel(appID: appID, named: promoteTo) else { throw try await unknownChannel(promoteTo, appID: appID) }
            target = found
        }
        var charts: [(ChartPackage, [UInt8])] = []
        for (i, bytes) in archives.enumerated() {
            let package: ChartPackage
            do {
                package = try ChartPackage.parse(archive: bytes)
            } catch {
                throw CatalogError("chart \(i + 1) is not a valid Helm chart: \(error)")
            }
            do {
                try ChartDelivery.checkInjectable(package)
            } catch {
                throw CatalogError("chart \(package.name) cannot be delivered to customers: \(error)")
            }
            charts.append((package, bytes))
        }
        guard Set(charts.map(\.0.name)).count == charts.count else { throw CatalogError("a release holds each chart once") }
        let release = ReleaseRecord(appID: appID, version: version, notes: notes)
        var records: [ReleaseChartRecord] = []
        for (chart, bytes) in charts {
            let digest = Digest.of(bytes)
            try await blobs.put(.init(bytes: bytes), as: digest)
            records.append(ReleaseChartRecord(releaseID: release.id, name: chart.name, version: chart.version, digest: digest, size: Int64(bytes.count)))
        }
        let sequence = try await store.createRelease(release, charts: records)
        if let target {
            try await store.promote(PromotionRecord(channelID: target.id, releaseID: release.id, version: version, notes: notes))
        }
        snapshots.invalidate(appID)
        return sequence
    }

    public func promote(appID: String, sequence: Int, channel name: String, version: String, notes: String?) async throws {
        guard SemVer.isValidChartVersion(version) else { throw CatalogError("version \(version.debugDescription) is not SemVer (e.g. 1.2.3 or v1.2.3)") }
        guard (notes?.utf8.count ?? 0) <= Self.longestNotes else { throw CatalogError("release notes are longer than 64 KiB") }
        guard let channel = try await channel(appID: appID, named: name) else { throw try await unknownChannel(name, appID: appID) }
        guard let release = try await store.releases(appID: appID).first(where: { $0.sequence == sequence }) else {
            throw StoreError.notFound("release \(sequence) not found")
        }
        try await store.promote(PromotionRecord(channelID: channel.id, releaseID: release.id, version: version, notes: notes))
        snapshots.invalidate(appID)
    }

    public func summaries(appID: String) async throws -> [ReleaseSummary] {
        let releases = try await store.releases(appID: appID)
        let charts = Dictionary(grouping: try await store.releaseCharts(appID: appID), by: \.releaseID)
        let channels = try await store.channels(appID: appID)
        var latest: [String: String] = [:]
        for p in try await store.promotions(appID: appID) { latest[p.channelID] = p.releaseID }
        return releases.map { r in
            let active = channels.reversed().filter { latest[$0.id] == r.id }.map(\.name)
            return ReleaseSummary(release: r, charts: charts[r.id, default: []].sorted { $0.name < $1.name }, activeChannels: active)
        }
    }

    /// The charts (`name version`) of an app's releases whose files contain `text`.
    public func chartsMentioning(_ text: String, appID: String) async throws -> [String] {
        var found: Set<String> = []
        for chart in try await store.releaseCharts(appID: appID) where !found.contains("\(chart.name) \(chart.version)") {
            guard let archive = try await blobs.readAll(chart.digest, limit: ChartPackage.maxArchiveSize),
                  let package = try? ChartPackage.parse(archive: Array(archive.readableBytesView)) else { continue }
            let needle = Array(text.utf8)
            if package.entries.contains(where: { $0.contents.firstRange(of: needle) != nil }) {
                found.insert("\(chart.name) \(chart.version)")
            }
        }
        return found.sorted()
    }

    /// Release `sequence` of an app as promoted to `channelName`, with the repository path
    /// (after the app) of each of its charts on that channel.
    public func release(appID: String, sequence: Int, onChannel channelName: String) async throws
        -> (release: ReleaseRecord, channel: ChannelRecord, charts: [(chart: ReleaseChartRecord, path: [String])]) {
        guard let release = try await store.releases(appID: appID).first(where: { $0.sequence == sequence }) else {
            throw CatalogError("no release \(sequence)")
        }
        guard let channel = try await self.channel(appID: appID, named: channelName),
              try await store.promotions(appID: appID).contains(where: { $0.channelID == channel.id && $0.releaseID == release.id }) else {
            throw CatalogError("release \(sequence) was never promoted to the \(channelName) channel")
        }
        let charts = try await store.releaseCharts(appID: appID).filter { $0.releaseID == release.id }.sorted { $0.name < $1.name }
        return (release, channel, charts.map { ($0, channel.name == Self.stable ? [$0.name] : [channel.slug, $0.name]) })
    }

    // MARK: Chart repositories

    /// Resolves `<app>/<channel>/<chart>` or `<app>/<chart>` (Stable) to a chart repository,
    /// or nil when the name is an ordinary hosted repository.
    public func chartRepository(appID: String, path: [String]) async throws -> ChartRepository? {
        guard path.count == 1 || path.count == 2 else { return nil }
        let snapshot = try await snapshots.snapshot(appID) {
            CatalogSnapshot(channels: try await store.channels(appID: appID), charts: try await store.releaseCharts(appID: appID),
                            promotions: try await store.promotions(appID: appID), releases: try await store.releases(appID: appID))
        }
        return snapshot.chartRepository(appID: appID, path: path)
    }

    /// A channel's promotions in order, as placements (what the in-cluster SDK compares with).
    public func placements(appID: String, channel name: String) async throws -> [ReleasePlacement] {
        guard let channel = try await channel(appID: appID, named: name) else { return [] }
        return ReleasePlacement.onChannel(channel, promotions: try await store.promotions(appID: appID),
                                          releases: try await store.releases(appID: appID))
    }
}

/// One app's channels, release charts and promotions as read at one moment.
struct CatalogSnapshot: Sendable {
    var channels: [ChannelRecord]
    var charts: [ReleaseChartRecord]
    var promotions: [PromotionRecord]
    var releases: [ReleaseRecord]

    func chartRepository(appID: String, path: [String]) -> ChartRepository? {
        let channel: ChannelRecord?
        let chart: String
        switch path.count {
        case 1:
            let stable = ReleaseCatalog.stable.lowercased()
            channel = channels.first { $0.name.lowercased() == stable || $0.slug == stable }
            chart = path[0]
        case 2:
            channel = channels.first { $0.slug == path[0] }
            chart = path[1]
        default:
            return nil
        }
        guard let channel, charts.contains(where: { $0.name == chart }) else { return nil }
        var versions: [String: ReleaseChartRecord] = [:]
        let byRelease = Dictionary(grouping: charts.filter { $0.name == chart }, by: \.releaseID)
        var placements: [String: ReleasePlacement] = [:]
        let placed = Dictionary(ReleasePlacement.onChannel(channel, promotions: promotions, releases: releases).map { ($0.channelSequence, $0) },
                                uniquingKeysWith: { a, _ in a })
        for (index, p) in promotions.filter({ $0.channelID == channel.id }).enumerated() {
            for c in byRelease[p.releaseID, default: []] {
                let tag = ChartPackage.tag(forVersion: c.version)
                versions[tag] = c
                placements[tag] = placed[index]
            }
        }
        return ChartRepository(appID: appID, channel: channel, chart: chart, versions: versions, placements: placements)
    }
}

/// Catalog snapshots per app, read again after `refreshInterval` (0: every time).
final class CatalogSnapshots: Sendable {
    let refreshInterval: TimeInterval
    private let entries = Mutex<[String: (snapshot: CatalogSnapshot, at: Date)]>([:])

    init(refreshInterval: TimeInterval) { self.refreshInterval = refreshInterval }

    func snapshot(_ appID: String, load: () async throws -> CatalogSnapshot) async throws -> CatalogSnapshot {
        if refreshInterval > 0, let hit = entries.withLock({ $0[appID] }), Date().timeIntervalSince(hit.at) < refreshInterval {
            return hit.snapshot
        }
        let fresh = try await load()
        if refreshInterval > 0 { entries.withLock { $0[appID] = (fresh, Date()) } }
        return fresh
    }

    func invalidate(_ appID: String) { entries.withLock { $0[appID] = nil } }
}
