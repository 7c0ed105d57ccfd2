import Foundation
import Testing
import YAMLSafety
@testable import Charts

/// Nine levels of nine aliases: 387 million nodes in 300 bytes.
let aliasBomb = (0..<9).map { level -> String in
    let name = String(UnicodeScalar(UInt8(97 + level)))
    let items = level == 0 ? Array(repeating: "lol", count: 9) : Array(repeating: "*" + String(UnicodeScalar(UInt8(96 + level))), count: 9)
    return "\(name): &\(name) [\(items.joined(separator: ","))]"
}.joined(separator: "\n") + "\n"

@Suite(.timeLimit(.minutes(1))) struct YAMLBudgetTests {
    @Test func anAliasBombIsRefusedBeforeItExpands() throws {
        #expect(aliasBomb.utf8.count < 400)
        let started = ContinuousClock.now
        #expect(throws: YAMLBudget.Exceeded.self) { _ = try YAMLBudget.compose(aliasBomb) }
        #expect(ContinuousClock.now - started < .seconds(5), "the check stops at its budget")
    }

    @Test func tooManyAliasesAreRefusedWithoutParsing() {
        let many = "a: &a 1\nlist: [" + Array(repeating: "*a", count: YAMLBudget.maxAliases + 1).joined(separator: ", ") + "]\n"
        #expect(throws: YAMLBudget.Exceeded.self) { _ = try YAMLBudget.compose(many) }
    }

    @Test func ordinaryYAMLWithAnchorsAndStarsInTextPasses() throws {
        let text = """
            defaults: &defaults {cpu: 100m}
            web: {resources: *defaults}
            pattern: "*.example.com"
            glob: '*'
            # a comment with *stars
            """
        #expect(try YAMLBudget.compose(text) != nil)
    }

    @Test func chartsRefuseABombInValuesAndChartYAML() throws {
        #expect(throws: ChartError.self) { _ = try SafeYAML.load(aliasBomb) }
        let chart = "apiVersion: v2\nname: bomb\nversion: 0.1.0\n" + aliasBomb
        #expect(throws: ChartError.self) { _ = try SafeYAML.load(chart) }
    }
}
