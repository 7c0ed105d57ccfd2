import Foundation
import PortcullisAPI
import Testing
@testable import InClusterSDK

/// What the SDK keeps for its check-ins: never more than one check-in may carry, or every
/// check-in after would be refused and the instance fall silent.
@Suite struct SDKStateTests {
    func state() throws -> (SDKState, String) {
        let dir = NSTemporaryDirectory() + "sdk-state-" + UUID().uuidString
        return (try SDKState(directory: dir, pinnedInstanceID: nil), dir)
    }

    @Test func metricsMergedPastWhatACheckInCarriesAreRefusedWhole() async throws {
        let (state, dir) = try state()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = Dictionary(uniqueKeysWithValues: (0..<60).map { ("a\($0)", JSONScalar.integer($0)) })
        let second = Dictionary(uniqueKeysWithValues: (0..<60).map { ("b\($0)", JSONScalar.integer($0)) })
        try await state.mergeMetrics(first)
        await #expect(throws: SDKError.self) { try await state.mergeMetrics(second) }
        let kept = await state.metrics
        #expect(kept == first, "nothing of the refused request is kept")
        try await state.mergeMetrics(["a1": .integer(7)])
        let changed = await state.metrics
        #expect(changed["a1"] == .integer(7))
    }

    @Test func tagsLikewise() async throws {
        let (state, dir) = try state()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await state.setTags(Dictionary(uniqueKeysWithValues: (0..<100).map { ("t\($0)", "v") }), force: false)
        await #expect(throws: SDKError.self) { try await state.setTags(["one-more": "v"], force: false) }
        // Removing one (an empty value) makes room.
        try await state.setTags(["t0": "", "one-more": "v"], force: false)
        let tags = await state.tags
        #expect(tags.count == 100 && tags["one-more"] == "v")
    }

    @Test func whatNoCheckInCouldCarryIsNotTakenFromTheFiles() async throws {
        let dir = NSTemporaryDirectory() + "sdk-state-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "bad/id\n\u{1}".write(toFile: dir + "/instance-id", atomically: true, encoding: .utf8)
        var stored = Dictionary(uniqueKeysWithValues: (0..<150).map { (String(format: "m%03d", $0), JSONScalar.integer($0)) })
        stored["a/b"] = .integer(1)
        stored["nul"] = .string("x\u{0}y")
        try JSONEncoder().encode(stored).write(to: URL(fileURLWithPath: dir + "/metrics.json"))
        let state = try SDKState(directory: dir, pinnedInstanceID: nil)
        let id = await state.instanceID
        #expect(InstanceReportRules.problem(name: id, what: "instanceID") == nil && id != "bad/id")
        let metrics = await state.metrics
        #expect(metrics.count == 100 && metrics["a/b"] == nil && metrics["nul"] == nil && metrics["m000"] != nil)
    }
}
