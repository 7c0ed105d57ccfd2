import Foundation
import Testing
import FuzzTargets

/// Every committed fuzz input (the seed corpus, and every input that ever crashed a target,
/// in Fuzz/regressions/<target>/) runs through its target on every test run. A crash of the
/// target kills the test process, which fails the run.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ target: String) -> [URL] {
        ["corpus", "regressions"].flatMap { kind in
            let dir = root.appendingPathComponent(kind).appendingPathComponent(target)
            return ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }
    }

    @Test(arguments: FuzzTargets.all.keys.sorted())
    func everyCommittedInputRunsClean(target: String) async throws {
        let inputs = Self.inputs(target)
        #expect(!inputs.isEmpty, "Fuzz/corpus/\(target) holds a seed corpus")
        let run = try #require(FuzzTargets.all[target])
        let bytes = try inputs.map { Array(try Data(contentsOf: $0)) }
        // On a thread of its own, as under libFuzzer: a target may block on async work (the
        // JWT one does), which must not hold a thread of the test's cooperative pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                for input in bytes { run(input) }
                done.resume()
            }.start()
        }
    }

    @Test func everyTargetHasACorpusDirectoryAndNothingElseDoes() throws {
        let dirs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("corpus").path)
        #expect(Set(dirs.filter { !$0.hasPrefix(".") }) == Set(FuzzTargets.all.keys))
    }
}
