import Foundation
import Testing
import Yams
@testable import Charts

/// The in-cluster SDK's values go under the key its parent chart gives it.
@Suite struct SubchartValuesTests {
    func archive(_ files: [(String, String)]) throws -> [UInt8] {
        try Gzip.compress(Tar.write(files.map { TarEntry(path: $0.0, contents: Array($0.1.utf8)) }))
    }

    let sdkChart = "apiVersion: v2\nname: portcullis-sdk\nversion: 0.1.0\n"

    @Test func aSubchartDirectoryIsFoundUnderItsName() throws {
        let chart = try ChartPackage.parse(archive: archive([
            ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: portcullis-sdk\n  version: 0.1.0\n"),
            ("app/charts/portcullis-sdk/Chart.yaml", sdkChart),
        ]))
        #expect(chart.valuesKey(ofSubchart: "portcullis-sdk") == "portcullis-sdk")
        #expect(chart.valuesKey(ofSubchart: "redis") == nil)
    }

    @Test func anArchivedSubchartIsFoundUnderTheAliasItsParentGives() throws {
        let sdk = try archive([("portcullis-sdk/Chart.yaml", sdkChart)])
        let files: [TarEntry] = [
            TarEntry(path: "app/Chart.yaml", contents: Array("""
                apiVersion: v2
                name: app
                version: 1.0.0
                dependencies:
                - name: redis
                  alias: cache
                - name: portcullis-sdk
                  alias: sdk
                """.utf8)),
            TarEntry(path: "app/charts/portcullis-sdk-0.1.0.tgz", contents: sdk),
        ]
        let chart = try ChartPackage.parse(archive: Gzip.compress(Tar.write(files)))
        #expect(chart.valuesKey(ofSubchart: "portcullis-sdk") == "sdk")
    }

    @Test func aV1ChartsAliasComesFromRequirements() throws {
        let chart = try ChartPackage.parse(archive: archive([
            ("app/Chart.yaml", "apiVersion: v1\nname: app\nversion: 1.0.0\n"),
            ("app/requirements.yaml", "dependencies:\n- name: portcullis-sdk\n  alias: licensing\n"),
            ("app/charts/whatever/Chart.yaml", sdkChart),
        ]))
        #expect(chart.valuesKey(ofSubchart: "portcullis-sdk") == "licensing")
    }

    @Test func aDependencyDeclaredButNotCarriedIsNotInjected() throws {
        let chart = try ChartPackage.parse(archive: archive([
            ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: portcullis-sdk\n"),
            ("app/charts/other/Chart.yaml", "apiVersion: v2\nname: other\nversion: 1.0.0\n"),
            ("app/charts/other/charts/portcullis-sdk/Chart.yaml", sdkChart),
        ]))
        #expect(chart.valuesKey(ofSubchart: "portcullis-sdk") == nil, "only direct subcharts read the parent's key")
    }

    let pairs: [(String, ValuesInjection.Value)] = [
        ("license", .string("spec: {}\n")), ("channelSequence", .integer(3)),
        ("releaseImages", .list([.string("h/proxy/a/b/c:1")])), ("licenseFields", .map([("seats", .map([("value", .integer(5))]))])),
    ]

    @Test func aNewBlockIsAppendedAndCommentsKept() throws {
        let original = "# the app\nreplicas: 2\n"
        let out = try ValuesInjection.inject(into: original, topLevel: "portcullis-sdk", pairs)
        #expect(out.hasPrefix(original))
        let root = try #require(try Yams.load(yaml: out) as? [String: Any])
        let section = try #require(root["portcullis-sdk"] as? [String: Any])
        #expect(section["license"] as? String == "spec: {}\n")
        #expect(section["channelSequence"] as? Int == 3)
        #expect(section["releaseImages"] as? [String] == ["h/proxy/a/b/c:1"])
        #expect((section["licenseFields"] as? [String: Any]).flatMap { $0["seats"] as? [String: Any] }?["value"] as? Int == 5)
        #expect(root["replicas"] as? Int == 2)
    }

    @Test func anExistingSectionIsMergedAndOursWin() throws {
        let original = "sdk:\n  isAirgap: true\n  channelSequence: 99\nreplicas: 2\n"
        let out = try ValuesInjection.inject(into: original, topLevel: "sdk", pairs)
        let root = try #require(try Yams.load(yaml: out) as? [String: Any])
        let section = try #require(root["sdk"] as? [String: Any])
        #expect(section["isAirgap"] as? Bool == true, "what the vendor set is kept")
        #expect(section["channelSequence"] as? Int == 3)
        #expect(root["replicas"] as? Int == 2)
    }

    @Test func emptyValuesGetJustTheBlock() throws {
        let out = try ValuesInjection.inject(into: nil, topLevel: "sdk", pairs)
        let root = try #require(try Yams.load(yaml: out) as? [String: Any])
        #expect(Array(root.keys) == ["sdk"])
        #expect(throws: ChartError.self) { try ValuesInjection.inject(into: "- a list\n", topLevel: "sdk", pairs) }
    }
}
