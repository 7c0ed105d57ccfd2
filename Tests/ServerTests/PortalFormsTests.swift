import Testing
@testable import ControlPlane
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
        #expect(PortalForm.newCustomer.refusal("the email \"x@y; id\" is not an address (like ops@example.com)", typed: [:]).field == "email")
        #expect(PortalForm.editCustomer.refusal("the email \"x@y; id\" is not an address (like ops@example.com)", typed: [:]).field == "email")
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

/// The commands the portals show for pasting into a shell: what people typed is one word there.
@Suite struct InstallCommandsTests {
    @Test func valuesAreQuotedForTheShell() {
        #expect(InstallCommands.quoted("ops@globex.example") == "ops@globex.example")
        #expect(InstallCommands.quoted("x@y.z; touch /tmp/pwned #") == "'x@y.z; touch /tmp/pwned #'")
        #expect(InstallCommands.quoted("o'brien@example.com") == "'o'\\''brien@example.com'")
        #expect(InstallCommands.quoted("$(reboot)") == "'$(reboot)'")
        #expect(InstallCommands.quoted("") == "''")
    }

    @Test func theLoginLeavesThePasswordToHelmsPrompt() {
        #expect(InstallCommands.login(host: "reg.example.com", plainHTTP: false, username: "ops@globex.example")
                == "helm registry login reg.example.com --username ops@globex.example")
        #expect(InstallCommands.login(host: "127.0.0.1:8080", plainHTTP: true, username: nil)
                == "helm registry login 127.0.0.1:8080 --plain-http --username customer")
        #expect(InstallCommands.install(chart: "web", host: "reg.example.com", path: "acme/beta/web", version: "1.2.3+build.1", plainHTTP: false)
                == "helm install web oci://reg.example.com/acme/beta/web --version 1.2.3+build.1")
    }
}

/// Emails go into commands; names into headings and table cells.
@Suite struct CustomerTextTests {
    @Test func emailsAreAddresses() throws {
        #expect(try ControlPlane.checkedEmail("  ops@globex.example ") == "ops@globex.example")
        #expect(try ControlPlane.checkedEmail("o'brien@example.com") == "o'brien@example.com")
        #expect(try ControlPlane.checkedEmail("") == nil)
        #expect(try ControlPlane.checkedEmail(nil) == nil)
        for bad in ["x@y.z; touch /tmp/pwned #", "John Smith <john@x.test>", "no-at-sign", "a@b", "a@@b.c", "$(id)@x.test", "a@.x.test"] {
            #expect(throws: ControlPlaneError.self, "\(bad)") { try ControlPlane.checkedEmail(bad) }
        }
    }

    @Test func namesAreBoundedAndReadAsWritten() throws {
        try ControlPlane.checkName("Globex Corporation (EMEA)", "customer name")
        #expect(throws: ControlPlaneError.self) { try ControlPlane.checkName(String(repeating: "n", count: 201), "customer name") }
        #expect(throws: ControlPlaneError.self) { try ControlPlane.checkName("\u{202E}xeboLG", "customer name") }
        #expect(throws: ControlPlaneError.self) { try ControlPlane.checkName("line\nbreak", "customer name") }
    }
}


/// Origins compared as browsers write them: scheme, host and port, default ports left out.
@Suite struct PortalOriginTests {
    @Test func originsAreComparedWhole() {
        #expect(PortalErrorPages.normalizedOrigin("https://Portal.Example.com:443") == "https://portal.example.com")
        #expect(PortalErrorPages.normalizedOrigin("http://portal.example.com:80") == "http://portal.example.com")
        #expect(PortalErrorPages.normalizedOrigin("http://127.0.0.1:8080") == "http://127.0.0.1:8080")
        #expect(PortalErrorPages.normalizedOrigin("https://portal.example.com/some/path") == "https://portal.example.com")
        // Another scheme or port is another origin; `null` and non-web schemes are none.
        #expect(PortalErrorPages.normalizedOrigin("http://portal.example.com") != PortalErrorPages.normalizedOrigin("https://portal.example.com"))
        #expect(PortalErrorPages.normalizedOrigin("null") == nil)
        #expect(PortalErrorPages.normalizedOrigin("file:///etc") == nil)
    }
}
