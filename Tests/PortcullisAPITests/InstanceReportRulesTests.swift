import Testing
@testable import PortcullisAPI

/// What an instance report may carry: Portcullis refuses reports against these rules and the SDK
/// refuses what the application sets against the same ones.
@Suite struct InstanceReportRulesTests {
    @Test func namesAndValues() {
        #expect(InstanceReportRules.problem(name: "activeUsers", what: "metric name") == nil)
        #expect(InstanceReportRules.problem(name: "Active Users", what: "metric name") == nil)
        for bad in ["", String(repeating: "m", count: 129), "a/b", "tab\there", "nul\u{0}"] {
            #expect(InstanceReportRules.problem(name: bad, what: "metric name") != nil, "\(bad.debugDescription)")
        }
        #expect(InstanceReportRules.problem(value: "eu-west", what: "tag region") == nil)
        #expect(InstanceReportRules.problem(value: "a\u{0}b", what: "tag region") == "tag region holds a NUL character")
        #expect(InstanceReportRules.problem(value: String(repeating: "v", count: 4097), what: "tag x") != nil)
    }

    @Test func aReportIsCheckedWhole() {
        let fine = InstanceReport(instanceID: "i-1", appSlug: "acme", customMetrics: ["users": .integer(3), "plan": .string("gold")],
                                  tags: ["env": "prod"])
        #expect(InstanceReportRules.problem(of: fine) == nil)
        var bad = fine
        bad.customMetrics = ["plan": .string("go\u{0}ld")]
        #expect(InstanceReportRules.problem(of: bad) == "metric plan holds a NUL character")
        bad = fine
        bad.instanceID = ""
        #expect(InstanceReportRules.problem(of: bad) == "instanceID must be 1 to 128 characters")
    }
}
