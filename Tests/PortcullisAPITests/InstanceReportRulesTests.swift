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

    @Test func whatTheClusterSaysOfItselfIsBounded() {
        let fine = InstanceReport(instanceID: "i-1", appSlug: "acme", appStatus: "ready", k8sVersion: "v1.30.2", k8sDistribution: "k3s")
        #expect(InstanceReportRules.problem(of: fine) == nil)
        var long = fine
        long.k8sVersion = String(repeating: "9", count: 257)
        #expect(InstanceReportRules.problem(of: long) == "k8sVersion is longer than 256 characters")
        var turned = fine
        turned.k8sDistribution = "\u{202E}gnirts"
        #expect(InstanceReportRules.problem(of: turned) == "k8sDistribution holds a control or text-direction character")
        var many = fine
        many.tags = Dictionary(uniqueKeysWithValues: (0...100).map { ("t\($0)", "v") })
        #expect(InstanceReportRules.problem(of: many) == "more than 100 tags")
        many = fine
        many.customMetrics = Dictionary(uniqueKeysWithValues: (0...100).map { ("m\($0)", JSONScalar.integer($0)) })
        #expect(InstanceReportRules.problem(of: many) == "more than 100 custom metrics")
    }
}
