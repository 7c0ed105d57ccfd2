import Charts
import Foundation
import PortcullisAPI
import Storage
import Testing
@testable import Hosting

@Suite struct SDKChartTests {
    static let chartDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../deploy/helm/portcullis-sdk").standardized

    @Test func theEmbeddedChartIsTheOneInDeploy() throws {
        let onDisk = try FileManager.default.subpathsOfDirectory(atPath: Self.chartDirectory.path).filter {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: Self.chartDirectory.appendingPathComponent($0).path, isDirectory: &isDirectory)
            return !isDirectory.boolValue
        }.sorted()
        #expect(SDKChart.contents.map(\.path).sorted() == onDisk, "run scripts/embed-sdk-chart after editing deploy/helm/portcullis-sdk")
        for (path, text) in SDKChart.contents {
            let file = try String(contentsOf: Self.chartDirectory.appendingPathComponent(path), encoding: .utf8)
            #expect(file == text, "\(path) differs from the embedded copy: run scripts/embed-sdk-chart")
        }
    }

    @Test func theChartIsServedAtThisBinarysVersion() throws {
        let package = try ChartPackage.parse(archive: SDKChart.archive())
        #expect(package.name == SDKChart.name)
        #expect(package.version == portcullisVersion, "the subchart's version follows the binary's")
        let artifact = try #require(SDKChart.artifact)
        #expect(artifact.tag == portcullisVersion)
        #expect(try SDKChart.archive() == SDKChart.archive(), "the same bytes every time, so the digest is stable across replicas")
    }
}

@Suite struct ReleasePlacementTests {
    let channel = ChannelRecord(id: "ch", appID: "app", name: "Stable", slug: "stable")
    let releases = (1...4).map { ReleaseRecord(id: "r\($0)", appID: "app", sequence: $0, version: "1.\($0).0", notes: "notes \($0)") }

    @Test func placementsFollowTheChannelsPromotionsInOrder() {
        let promotions = [
            PromotionRecord(channelID: "ch", releaseID: "r1", version: "1.1.0", notes: nil),
            PromotionRecord(channelID: "other", releaseID: "r2", version: "1.2.0", notes: nil),
            PromotionRecord(channelID: "ch", releaseID: "r3", version: "1.3.0-hotfix", notes: "promoted"),
            PromotionRecord(channelID: "ch", releaseID: "r4", version: "1.4.0", notes: nil),
        ]
        let placements = ReleasePlacement.onChannel(channel, promotions: promotions, releases: releases)
        #expect(placements.map(\.releaseSequence) == [1, 3, 4])
        #expect(placements.map(\.channelSequence) == [0, 1, 2])
        #expect(placements[1].versionLabel == "1.3.0-hotfix")
        #expect(placements[1].releaseNotes == "promoted", "the promotion's notes win over the release's")
        #expect(placements[0].releaseNotes == "notes 1")
        #expect(placements.allSatisfy { $0.channelName == "Stable" && $0.channelID == "ch" })

        #expect(ReleasePlacement.behind(placements, releaseSequence: 4) == 0)
        #expect(ReleasePlacement.behind(placements, releaseSequence: 1) == 2)
        #expect(ReleasePlacement.behind(placements, releaseSequence: 2) == 2, "never on this channel: newer releases count")
    }

    @Test func aReleasePromotedTwiceCountsFromItsLastPromotion() {
        let promotions = ["r1", "r2", "r1"].map { PromotionRecord(channelID: "ch", releaseID: $0, version: $0, notes: nil) }
        let placements = ReleasePlacement.onChannel(channel, promotions: promotions, releases: releases)
        #expect(ReleasePlacement.behind(placements, releaseSequence: 1) == 0)
        #expect(ReleasePlacement.behind(placements, releaseSequence: 2) == 1)
    }
}
