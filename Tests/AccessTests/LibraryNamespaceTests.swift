import Foundation
import Licensing
import OCI
import Testing
@testable import Access

/// `library/`: Portcullis's own namespace (the SDK subchart built in, the SDK image pushed by
/// the vendor), pulled by anyone, on any domain, written only by the vendor.
@Suite struct LibraryNamespaceTests {
    let now = AccessRulesDecisionTests.now
    let chart = try! RepositoryName(parsing: "library/portcullis-sdk")
    let image = try! RepositoryName(parsing: "library/portcullis-sdk-image")

    @Test func everyonePullsTheLibrary() {
        for who in [Principal.anonymous, AccessRulesDecisionTests.license(), AccessRulesDecisionTests.license(app: "globex"),
                    .vendor(canPush: false)] {
            let caller = Caller(principal: who, tokenAccess: nil)
            #expect(AccessRules.decide(caller, .pull, on: chart, kind: .library(builtIn: true), now: now) == .allow, "\(who)")
            #expect(AccessRules.decide(caller, .pull, on: image, kind: .library(builtIn: false), now: now) == .allow, "\(who)")
        }
    }

    @Test func onlyTheVendorWritesAndNeverTheBuiltInChart() {
        let vendor = Caller(principal: .vendor(canPush: true), tokenAccess: nil)
        #expect(AccessRules.decide(vendor, .push, on: image, kind: .library(builtIn: false), now: now) == .allow)
        #expect(AccessRules.decide(vendor, .push, on: chart, kind: .library(builtIn: true), now: now)
                == .unsupported("this repository is built into Portcullis and read-only"))
        let customer = Caller(principal: AccessRulesDecisionTests.license(), tokenAccess: nil)
        #expect(AccessRules.decide(customer, .push, on: image, kind: .library(builtIn: false), now: now) == .denied("licenses can only pull"))
        let anonymous = Caller(principal: .anonymous, tokenAccess: nil)
        #expect(AccessRules.decide(anonymous, .push, on: image, kind: .library(builtIn: false), now: now)
                == .unauthorized("authentication required"))
    }

    @Test func anExpiredLicenseIsStillRefusedRatherThanTreatedAsAnonymous() {
        let expired = Caller(principal: AccessRulesDecisionTests.license(expires: now.addingTimeInterval(-1)), tokenAccess: nil)
        if case .unauthorized = AccessRules.decide(expired, .pull, on: chart, kind: .library(builtIn: true), now: now) {} else {
            Issue.record("an expired license must be refused, not degraded to anonymous")
        }
    }

    @Test func theLibraryExistsOnEveryAppsDomain() {
        #expect(AccessRules.onDomain(of: "acme", chart) == .allow)
        #expect(AccessRules.onDomain(of: "acme", try! RepositoryName(parsing: "globex/api")) != .allow)
        #expect(AccessRules.isLibrary(chart))
        #expect(!AccessRules.isLibrary(try! RepositoryName(parsing: "library")))
    }

    @Test func theSDKAuthenticatesWithALicenseForItsOwnApp() {
        #expect(AccessRules.sdk(AccessRulesDecisionTests.license()) == .allow)
        #expect(AccessRules.sdk(AccessRulesDecisionTests.license(expires: now.addingTimeInterval(-1))) == .allow,
                "an expired license still reads itself, so the application learns it expired")
        #expect(AccessRules.sdk(AccessRulesDecisionTests.license(), reportingFor: "acme") == .allow)
        #expect(AccessRules.sdk(AccessRulesDecisionTests.license(), reportingFor: "globex") != .allow)
        #expect(AccessRules.sdk(.anonymous) == .unauthorized("the SDK authenticates with a license ID"))
        #expect(AccessRules.sdk(.vendor(canPush: true)) != .allow)
    }
}
