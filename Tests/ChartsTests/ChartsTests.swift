import Foundation
import Testing
import Yams
@testable import Charts

/// Runs GNU tar, the reference implementation these archives must agree with.
func gnuTar(_ args: [String], in dir: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
    return String(decoding: out, as: UTF8.self)
}

func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "charts-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

let longName = "chart/templates/" + String(repeating: "d", count: 90) + "/" + String(repeating: "f", count: 60) + ".yaml"
/// Over 255 bytes, so neither the ustar name nor name+prefix can hold it (each component stays under NAME_MAX).
let veryLongName = "chart/" + (0..<3).map { String(repeating: Character(String($0)), count: 100) }.joined(separator: "/") + "/values.yaml"

@Suite struct TarTests {
    @Test func roundTripsIncludingLongNames() throws {
        let entries = [
            TarEntry(path: "chart/", kind: .directory, mode: 0o755),
            TarEntry(path: "chart/Chart.yaml", contents: Array("name: chart\n".utf8)),
            TarEntry(path: longName, contents: Array(repeating: 65, count: 1000)),
            TarEntry(path: veryLongName, mode: 0o600, contents: []),
        ]
        let bytes = Tar.write(entries)
        #expect(bytes.count % 512 == 0)
        #expect(try Tar.read(bytes) == entries)
        #expect(Tar.write(entries) == bytes, "writing is deterministic")
    }

    @Test func gnuTarReadsWhatWeWrite() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try Gzip.compress(Tar.write([
            TarEntry(path: "chart/Chart.yaml", contents: Array("name: chart\n".utf8)),
            TarEntry(path: longName, contents: Array("x".utf8)),
            TarEntry(path: veryLongName, contents: Array("y".utf8)),
        ]))
        FileManager.default.createFile(atPath: dir + "/c.tgz", contents: Data(archive))
        let listing = try gnuTar(["-tzf", "c.tgz"], in: dir).split(separator: "\n").map(String.init)
        #expect(listing == ["chart/Chart.yaml", longName, veryLongName])
    }

    @Test(arguments: ["gnu", "pax", "ustar"])
    func readsGnuTarArchives(format: String) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = format == "ustar" ? longName : veryLongName
        try FileManager.default.createDirectory(atPath: dir + "/" + (name as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("hello".utf8))
        _ = try gnuTar(["--format=\(format)", "-czf", "out.tgz", "chart"], in: dir)
        let bytes = try Gzip.decompress(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.tgz"))), limit: 1 << 20)
        let file = try #require(try Tar.read(bytes).first { $0.kind == .file })
        #expect(file.path == name)
        #expect(file.contents == Array("hello".utf8))
    }

    @Test func rejectsCorruptHeadersAndTruncation() throws {
        var bytes = Tar.write([TarEntry(path: "a/b", contents: Array(repeating: 1, count: 2000))])
        var corrupt = bytes
        corrupt[10] ^= 0xff
        #expect(throws: TarError.self) { try Tar.read(corrupt) }
        bytes.removeLast(1024 + 600)
        #expect(throws: TarError.self) { try Tar.read(bytes) }
    }

    @Test func gzipLimitsExpansion() throws {
        let big = try Gzip.compress(Array(repeating: 0, count: 1 << 20))
        #expect(big.count < 10_000)
        #expect(throws: ChartError.self) { try Gzip.decompress(big, limit: 1000) }
        #expect(try Gzip.decompress(big, limit: 2 << 20).count == 1 << 20)
        #expect(throws: ChartError.self) { try Gzip.decompress(Array("not gzip".utf8), limit: 100) }
        #expect(try Gzip.compress(Array("same".utf8)) == Gzip.compress(Array("same".utf8)))
    }
}

@Suite struct ChartPackageTests {
    func archive(_ files: [(String, String)]) throws -> [UInt8] {
        try Gzip.compress(Tar.write(files.map { TarEntry(path: $0.0, contents: Array($0.1.utf8)) }))
    }

    @Test func parsesAValidChart() throws {
        let chart = try ChartPackage.parse(archive: archive([
            ("web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.5.0\nappVersion: \"1.0\"\n"),
            ("web/values.yaml", "replicas: 1\n"),
        ]))
        #expect(chart.name == "web" && chart.version == "0.5.0" && chart.appVersion == "1.0")
        #expect(chart.values == "replicas: 1\n")
        let config = try JSONSerialization.jsonObject(with: Data(chart.configJSON)) as? [String: Any]
        #expect(config?["name"] as? String == "web")
        let rebuilt = try ChartPackage.parse(archive: chart.replacingValues("replicas: 2\n").archive())
        #expect(rebuilt.values == "replicas: 2\n")
        #expect(try chart.archive() == chart.archive())
    }

    @Test(arguments: [
        [("web/values.yaml", "a: 1")],
        [("web/Chart.yaml", "apiVersion: v2\nname: other\nversion: 1.0.0\n")],
        [("web/Chart.yaml", "apiVersion: v2\nname: web\nversion: five\n")],
        [("web/Chart.yaml", "apiVersion: v9\nname: web\nversion: 1.0.0\n")],
        [("web/Chart.yaml", "name: [unclosed\n")],
        [("web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"), ("other/x", "")],
        [("../web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")],
    ])
    func rejectsInvalidCharts(_ files: [(String, String)]) throws {
        let bytes = try archive(files)
        #expect(throws: ChartError.self) { try ChartPackage.parse(archive: bytes) }
    }

    @Test func rejectsNonArchives() {
        #expect(throws: ChartError.self) { try ChartPackage.parse(archive: Array("hello".utf8)) }
        #expect(throws: ChartError.self) { try ChartPackage.parse(archive: try Gzip.compress(Array("not a tar at all".utf8))) }
    }

    @Test func semver() {
        for good in ["0.5.0", "1.2.3-rc.1", "1.0.0+build.5", "10.20.30-alpha-1+x"] { #expect(SemVer.isValid(good), "\(good)") }
        for bad in ["five", "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "v1.2.3", "1.2.3.4", ""] { #expect(!SemVer.isValid(bad), "\(bad)") }
        #expect(SemVer.isValidChartVersion("v1.21.1") && SemVer.isValidChartVersion("1.21.1"))
        for bad in ["vv1.2.3", "V1.2.3", "v1.2", "v"] { #expect(!SemVer.isValidChartVersion(bad), "\(bad)") }
    }
}

@Suite struct ValuesInjectionTests {
    let replicated: [(String, ValuesInjection.Value)] = [
        ("dockerconfigjson", .string("eyJhdXRocyI6e319")),
        ("licenseID", .string("lic-1")),
        ("customerName", .string("Acme \"Corp\": #1")),
        ("licenseFields", .map([("expires_at", .string("2027-01-01T00:00:00Z"))])),
    ]

    func load(_ text: String) throws -> [String: Any] {
        try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func appendsGlobalWhenMissingAndKeepsComments() throws {
        let original = "# Default values\nimage:\n  repository: nginx # the image\n"
        let out = try ValuesInjection.inject(into: original, replicated: replicated)
        #expect(out.hasPrefix(original))
        let global = try #require(try load(out)["global"] as? [String: Any])
        let r = try #require(global["replicated"] as? [String: Any])
        #expect(r["customerName"] as? String == "Acme \"Corp\": #1")
        #expect((r["licenseFields"] as? [String: Any])?["expires_at"] as? String == "2027-01-01T00:00:00Z")
    }

    @Test func mergesIntoExistingGlobalAndReplacesOldReplicated() throws {
        let original = """
        # top comment
        global:
            # the vendor's own setting
            someSetting: keepme
            replicated:
                licenseID: stale
                nested:
                    deep: x
            other: 2
        image: nginx
        """
        let out = try ValuesInjection.inject(into: original, replicated: replicated)
        #expect(out.contains("# the vendor's own setting"))
        #expect(!out.contains("stale") && !out.contains("deep"))
        let root = try load(out)
        let global = try #require(root["global"] as? [String: Any])
        #expect(global["someSetting"] as? String == "keepme")
        #expect(global["other"] as? Int == 2)
        #expect((global["replicated"] as? [String: Any])?["licenseID"] as? String == "lic-1")
        #expect(root["image"] as? String == "nginx")
    }

    @Test func flowStyleGlobalFallsBackToAStructuralMerge() throws {
        let out = try ValuesInjection.inject(into: "global: {someSetting: keepme}\nreplicas: 3\n", replicated: replicated)
        let root = try load(out)
        #expect(root["replicas"] as? Int == 3)
        let global = try #require(root["global"] as? [String: Any])
        #expect(global["someSetting"] as? String == "keepme")
        #expect((global["replicated"] as? [String: Any])?["licenseID"] as? String == "lic-1")
    }

    @Test(arguments: ["global: {}", "global: ~", "global: null   # set by the platform", "\"global\":", "'global': {}"])
    func anEmptyOrQuotedGlobalIsEditedAsText(line: String) throws {
        let original = "# top comment\n\(line)\n# about the image\nimage: nginx # pinned\ndate: 2024-01-02\n"
        let out = try ValuesInjection.inject(into: original, replicated: replicated)
        #expect(out.contains("# top comment\n") && out.contains("# about the image\nimage: nginx # pinned\ndate: 2024-01-02\n"), "\(out)")
        if let comment = line.range(of: "#") { #expect(out.contains(String(line[comment.lowerBound...]))) }
        // A line with nothing to take away stays as it was.
        if !line.contains("{}"), !line.contains("~"), !line.contains("null") { #expect(out.contains("\n\(line)\n")) }
        let root = try #require(try Yams.load(yaml: out, SafeYAML.helmResolver) as? [String: Any])
        #expect(((root["global"] as? [String: Any])?["replicated"] as? [String: Any])?["licenseID"] as? String == "lic-1")
        #expect(root["date"] as? String == "2024-01-02")
    }

    @Test func aCRLFFileIsEditedAsTextAndStaysCRLF() throws {
        let original = "# Default values\r\nglobal:\r\n  # the vendor's\r\n  keep: 1\r\nimage: nginx\r\n"
        let out = try ValuesInjection.inject(into: original, replicated: replicated)
        #expect(out.contains("# Default values\r\n") && out.contains("  # the vendor's\r\n  keep: 1\r\nimage: nginx\r\n"))
        #expect(!out.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "a bare LF in \(out.debugDescription)")
        let global = try #require(try load(out)["global"] as? [String: Any])
        #expect(global["keep"] as? Int == 1 && (global["replicated"] as? [String: Any])?["licenseID"] as? String == "lic-1")
    }

    @Test func theStructuralMergeKeepsWhatHelmReadsAsStrings() throws {
        // Helm's YAML library reads these as strings; YAML 1.1 as a timestamp and a base-60 integer.
        let original = "global: {someSetting: keepme}\ndate: 2024-01-02\nwhen: 2001-12-14t21:59:43.10-05:00\nsexa: 1:20\nport: 8080\n"
        let out = try ValuesInjection.inject(into: original, replicated: replicated)
        let root = try #require(try Yams.load(yaml: out, SafeYAML.helmResolver) as? [String: Any])
        #expect(root["date"] as? String == "2024-01-02")
        #expect(root["when"] as? String == "2001-12-14t21:59:43.10-05:00")
        #expect(root["sexa"] as? String == "1:20")
        #expect(root["port"] as? Int == 8080)
        #expect((root["global"] as? [String: Any])?["someSetting"] as? String == "keepme")
    }

    @Test func emptyOrMissingValues() throws {
        for original in [nil, "", "\n"] as [String?] {
            let out = try ValuesInjection.inject(into: original, replicated: replicated)
            #expect(((try load(out)["global"] as? [String: Any])?["replicated"] as? [String: Any])?["licenseID"] as? String == "lic-1")
        }
    }

    @Test func invalidValuesAreAnError() {
        #expect(throws: ChartError.self) { try ValuesInjection.inject(into: "global: {unclosed\n", replicated: replicated) }
        #expect(throws: ChartError.self) { try ValuesInjection.inject(into: "- a list\n- not a map\n", replicated: replicated) }
    }
}

@Suite struct GeneratedArchiveTests {
    /// Mutated and truncated archives: the reader must throw or return entries, never crash or hang.
    @Test func mutatedArchivesAreRejectedOrRead() throws {
        let valid = try Gzip.compress(Tar.write([
            TarEntry(path: "web/Chart.yaml", contents: Array("apiVersion: v2\nname: web\nversion: 1.0.0\n".utf8)),
            TarEntry(path: "web/values.yaml", contents: Array("a: 1\n".utf8)),
            TarEntry(path: longName, contents: Array(repeating: 7, count: 700)),
        ]))
        let tar = try Gzip.decompress(valid, limit: 1 << 20)
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for i in 0..<3000 {
            var bytes = i % 2 == 0 ? tar : valid
            for _ in 0..<(1 + next() % 8) {
                bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next())
            }
            if i % 5 == 0 { bytes = Array(bytes.prefix(next() % bytes.count)) }
            if i % 2 == 0 {
                _ = try? Tar.read(bytes)
            } else {
                _ = try? ChartPackage.parse(archive: bytes)
            }
        }
    }
}

@Suite struct StreamingTarTests {
    /// Entries written one header at a time read back with GNU tar and with our own reader.
    @Test func headersWrittenAloneMakeAnArchiveGNUTarReads() throws {
        let dir = NSTemporaryDirectory() + "tar-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = "blobs/sha512/" + String(repeating: "f", count: 128)
        let entries: [(String, [UInt8])] = [("oci-layout", Array("{}".utf8)), (long, Array(repeating: 7, count: 1000)), ("empty", [])]
        var archive: [UInt8] = []
        for (path, bytes) in entries {
            archive += try Tar.fileHeader(path: path, size: Int64(bytes.count)) + bytes + Tar.padding(afterContentOf: Int64(bytes.count))
        }
        archive += Tar.endOfArchive
        #expect(archive.count % 512 == 0)
        FileManager.default.createFile(atPath: dir + "/a.tar", contents: Data(archive))
        #expect(try gnuTar(["-tf", "a.tar"], in: dir) == "oci-layout\n\(long)\nempty\n")

        var offset = 0
        var read: [(String, Int64)] = []
        var longName: String?
        while let header = try Tar.entryHeader(Array(archive[offset..<offset + 512])) {
            if header.isExtendedHeader {
                longName = try Tar.paxPath(Array(archive[offset + 512..<offset + 512 + Int(header.size)]))
            } else {
                read.append((longName ?? header.path, header.size))
                longName = nil
            }
            offset += 512 + Int(header.paddedSize)
        }
        #expect(read.map(\.0) == entries.map(\.0) && read.map(\.1) == entries.map { Int64($0.1.count) })
        #expect(throws: TarError.self) { try Tar.fileHeader(path: String(repeating: "x", count: 5000), size: 1) }
        var damaged = Array(archive[0..<512])
        damaged[0] ^= 1
        #expect(throws: TarError.self) { try Tar.entryHeader(damaged) }
    }
}

/// Inputs the fuzzer found (Fuzz/regressions/), pinned with the error each must now give.
@Suite struct FuzzFoundTests {
    @Test(arguments: ["#ngin=bal:x\n?  old: ~  ox\n", "? [a, b]\n: c\n", "a: !!set {x}\n", "global: !!binary aGk=\n"])
    func valuesYAMLThatCrashedTheConstructorIsRefused(values: String) {
        #expect(throws: ChartError.self) {
            try ValuesInjection.inject(into: values, replicated: [("licenseID", .string("l"))])
        }
    }

    @Test func anArchiveEntryNameThatIsNotTextIsRefused() throws {
        var name = Array("chart/".utf8) + [0xFF, 0xFE] + Array("x.yaml".utf8)
        var archive = try Tar.fileHeader(path: "placeholder-name", size: 0) + Tar.endOfArchive
        name += [UInt8](repeating: 0, count: 100 - name.count)
        archive.replaceSubrange(0..<100, with: name)
        // Recompute the checksum over the edited header.
        for i in 148..<156 { archive[i] = UInt8(ascii: " ") }
        let sum = archive[0..<512].reduce(0) { $0 + Int($1) }
        let octal = Array(String(sum, radix: 8).utf8)
        archive.replaceSubrange(148..<148 + 6, with: [UInt8](repeating: UInt8(ascii: "0"), count: 6 - octal.count) + octal)
        archive[154] = 0
        let error = #expect(throws: TarError.self) { try Tar.read(archive) }
        #expect(error?.description.contains("not valid text") == true, "\(String(describing: error))")
    }

    /// The fuzzer's input had a record length shorter than its own length field ("2 x=y\n").
    @Test(arguments: ["2 x=y\n", "1 \n", "9223372036854775807 a=b\n", "12 path=abc!", "0 a=b\n", "-5 a=b\n", "7 a=b\n"])
    func malformedPAXRecordsAreRefused(records: String) {
        let error = #expect(throws: TarError.self) { try Tar.parsePAX(Array(records.utf8)) }
        #expect(error?.description.contains("malformed PAX") == true)
    }

    /// Found reading the code after the PAX finding: a PAX size near Int.max overflowed the offset.
    @Test(arguments: ["9223372036854775807", "-1"])
    func aPAXSizeBeyondTheArchiveIsRefused(size: String) throws {
        let pax = Tar.paxRecord("size", size)
        var archive = Tar.header(name: "PaxHeaders/x", prefix: "", size: pax.count, mode: 0o644, type: UInt8(ascii: "x")) + Tar.padded(pax)
        archive += try Tar.fileHeader(path: "c/x.yaml", size: 0) + Tar.endOfArchive
        #expect(throws: TarError.self) { try Tar.read(archive) }
    }

    @Test func wellFormedPAXRecordsParse() throws {
        let data = Tar.paxRecord("path", "a/b.yaml") + Tar.paxRecord("comment", "x y=z")
        #expect(try Tar.parsePAX(data) == ["path": "a/b.yaml", "comment": "x y=z"])
    }
}
