import Testing
@testable import Server

/// A refused form comes back with the refusal next to the field it is about.
@Suite struct PortalFormsTests {
    @Test func aRefusalIsPlacedAtTheFieldItNames() {
        let typed = ["name": "Initech", "channel": "Nightly", "csrf": "t0k3n", "secret": "hunter2", ":id": "c1", "days": "30"]
        let channel = PortalForm.newCustomer.refusal("unknown channel \"Nightly\": the app's channels are Unstable, Beta, Stable", typed: typed)
        #expect(channel.field == "channel")
        #expect(channel.typed == ["name": "Initech", "channel": "Nightly", "days": "30"], "never the token, a secret or a route parameter")

        let duplicate = PortalForm.newCustomer.refusal("acme already has a customer named \"Initech\" (c1); pass --allow-duplicate", typed: typed)
        #expect(duplicate.field == "name")
        #expect(PortalForm.newCustomer.refusal("expires in days must be a whole number", typed: [:]).field == "days")
        #expect(PortalForm.newRelease.refusal("chart 1 is not a valid Helm chart: not a gzip archive", typed: [:]).field == "chart")
        #expect(PortalForm.promote.refusal("version \"x\" is not SemVer", typed: [:]).field == "version")
        #expect(PortalForm.addRegistry.refusal("https://r.example refused these credentials", typed: [:]).field == "username")
    }

    @Test func aRefusalAboutNoFieldGoesAboveTheForm() {
        let refusal = PortalForm.newToken.refusal("the database is read-only", typed: ["scope": "push"])
        #expect(refusal.field == nil)
        let values = refusal.values["newToken"] as? [String: Any]
        #expect((values?["errors"] as? [String: String]) == ["form": "the database is read-only"])
        #expect((values?["typed"] as? [String: String]) == ["scope": "push"])
    }

    @Test func onlyTheRefusedFormGetsTheRefusal() {
        let refusal: FormRefusal? = PortalForm.promote.refusal("unknown channel \"X\"", typed: ["channel": "X"])
        #expect(refusal.values(for: .newRelease).isEmpty)
        #expect(refusal.values(for: .promote)["promote"] != nil)
        let options = refusal!.options("channel", ["Beta", "X", "Stable"])
        #expect(options.map { $0["selected"] as? Bool } == [false, true, false], "what was chosen stays chosen")
        #expect(FormRefusal.options(["", "Beta"], selected: nil).map { $0["label"] as? String } == ["(none)", "Beta"])
    }
}
