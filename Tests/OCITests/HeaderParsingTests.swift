import Testing
@testable import OCI

@Suite struct ByteRangeTests {
    @Test func parsesForms() {
        #expect(ByteRange.parse("bytes=0-99", length: 1000) == .partial(ByteRange(start: 0, end: 99)))
        #expect(ByteRange.parse("bytes=900-", length: 1000) == .partial(ByteRange(start: 900, end: 999)))
        #expect(ByteRange.parse("bytes=-100", length: 1000) == .partial(ByteRange(start: 900, end: 999)))
        #expect(ByteRange.parse("bytes=990-5000", length: 1000) == .partial(ByteRange(start: 990, end: 999)))
        #expect(ByteRange.parse("bytes=-5000", length: 1000) == .partial(ByteRange(start: 0, end: 999)))
        #expect(ByteRange.parse("bytes=-99999999999999999999", length: 1000) == .partial(ByteRange(start: 0, end: 999)),
                "a suffix past Int64 is still all of it")
    }

    @Test func unsatisfiableAndIgnored() {
        #expect(ByteRange.parse("bytes=1000-", length: 1000) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=5-1", length: 1000) == .unsatisfiable, "last before first is invalid: 416")
        #expect(ByteRange.parse("bytes=0-1,5-6", length: 1000) == .whole)
        #expect(ByteRange.parse("items=0-1", length: 1000) == .whole)
        #expect(ByteRange.parse(nil, length: 1000) == .whole)
        #expect(ByteRange.parse("bytes=abc-def", length: 1000) == .whole)
        #expect(ByteRange.parse("bytes=-0", length: 1000) == .unsatisfiable)
    }

    @Test func contentRange() {
        #expect(ByteRange(start: 5, end: 9).contentRange(length: 10) == "bytes 5-9/10")
        #expect(ByteRange(start: 5, end: 9).count == 5)
    }
}

@Suite struct AuthChallengeTests {
    @Test func parsesBearer() throws {
        let c = try #require(AuthChallenge.parse(#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:org/app:pull""#))
        #expect(c.isBearer)
        #expect(c.parameters["realm"] == "https://auth.example.com/token")
        #expect(c.parameters["service"] == "registry.example.com")
        #expect(c.parameters["scope"] == "repository:org/app:pull")
    }

    @Test func parsesBasicAndOddSpacing() throws {
        let basic = try #require(AuthChallenge.parse(#"Basic realm="Registry Realm""#))
        #expect(basic.isBasic)
        #expect(basic.parameters["realm"] == "Registry Realm")
        let spaced = try #require(AuthChallenge.parse(#"bearer  Realm = "r" , service=svc"#))
        #expect(spaced.isBearer && spaced.parameters["realm"] == "r" && spaced.parameters["service"] == "svc")
        let escaped = try #require(AuthChallenge.parse(#"Bearer realm="a\"b""#))
        #expect(escaped.parameters["realm"] == "a\"b")
    }

    @Test func rejectsGarbage() {
        #expect(AuthChallenge.parse("") == nil)
        #expect(AuthChallenge.parse("   ") == nil)
        #expect(AuthChallenge.parse(#"Bearer realm="unterminated"#) == nil)
    }

    @Test func rendersOurChallenge() throws {
        let header = AuthChallenge.bearer(realm: "http://h/v2/token", service: "h", scope: "repository:a/b:pull")
        #expect(header == #"Bearer realm="http://h/v2/token",service="h",scope="repository:a/b:pull""#)
        let parsed = try #require(AuthChallenge.parse(header))
        #expect(parsed.parameters["scope"] == "repository:a/b:pull")
    }

    @Test func parsesScopes() {
        let scopes = RepositoryScope.parseAll("repository:proxy/acme/up/app:pull,push registry:catalog:* repository:localhost:5000/x:pull")
        #expect(scopes == [RepositoryScope(name: "proxy/acme/up/app", actions: ["pull", "push"]),
                           RepositoryScope(name: "localhost:5000/x", actions: ["pull"])])
    }

    @Test func repeatedScopesMergeIntoOnePerRepository() {
        let asked = RepositoryScope.parseAll("repository:a/b:pull repository:c/d:pull repository:a/b:push,pull repository:a/b:pull")
        #expect(RepositoryScope.merged(asked) == [RepositoryScope(name: "a/b", actions: ["pull", "push"]),
                                                  RepositoryScope(name: "c/d", actions: ["pull"])])
        #expect(RepositoryScope.merged(Array(repeating: RepositoryScope(name: "x/y", actions: ["pull", "pull"]), count: 1000))
            == [RepositoryScope(name: "x/y", actions: ["pull"])])
    }

    @Test func basicCredentials() throws {
        let creds = BasicCredentials(username: "LICENSE_ID", password: "abc:def")
        let parsed = try #require(BasicCredentials.parse(authorization: creds.headerValue))
        #expect(parsed == creds)
        #expect(BasicCredentials.parse(authorization: "Basic !!!") == nil)
        #expect(BasicCredentials.parse(authorization: "Bearer x") == nil)
        #expect(BasicCredentials.parse(authorization: "Basic " + Base64.encode(Array("nocolon".utf8))) == nil)
    }

    @Test func errorJSONIsEscaped() {
        let e = RegistryError(.nameUnknown, "bad \"name\"\n")
        #expect(e.jsonBody == #"{"errors":[{"code":"NAME_UNKNOWN","message":"bad \"name\"\n"}]}"#)
        #expect(e.status == 404)
        #expect(RegistryError(.denied, "x").status == 403)
        #expect(RegistryError(.unauthorized, "x").status == 401)
    }
}

@Suite struct ProxyNameTests {
    func parse(_ text: String, registries: Set<String> = ["up"]) throws -> ProxyName? {
        ProxyName.parse(try RepositoryName(parsing: text), isRegistryName: { registries.contains($0) })
    }

    @Test func registryNameWins() throws {
        #expect(try parse("proxy/acme/up/org/app") == ProxyName(app: "acme", upstream: .named("up"), repository: "org/app"))
    }

    @Test func hostsAreRecognised() throws {
        #expect(try parse("proxy/acme/quay.io/org/api") == ProxyName(app: "acme", upstream: .host("quay.io"), repository: "org/api"))
        #expect(try parse("proxy/acme/localhost/x") == ProxyName(app: "acme", upstream: .host("localhost"), repository: "x"))
        #expect(try parse("proxy/acme/127.0.0.1:5000/x") == ProxyName(app: "acme", upstream: .host("127.0.0.1:5000"), repository: "x"))
    }

    @Test func dockerHubSpellingsFoldTogether() throws {
        let expected = ProxyName(app: "a", upstream: .host("docker.io"), repository: "library/nginx")
        for spelling in ["proxy/a/nginx", "proxy/a/docker.io/nginx", "proxy/a/index.docker.io/nginx",
                         "proxy/a/registry-1.docker.io/library/nginx", "proxy/a/docker.io/library/nginx"] {
            #expect(try parse(spelling) == expected, "\(spelling)")
        }
        #expect(try parse("proxy/a/myorg/api") == ProxyName(app: "a", upstream: .host("docker.io"), repository: "myorg/api"))
    }

    @Test func notProxyPaths() throws {
        #expect(try parse("acme/app") == nil)
        #expect(try parse("proxy/acme") == nil)
        #expect(try parse("proxy/acme/quay.io") == nil)
    }
}

@Suite struct TagPageTests {
    @Test func sortsPagesAndLinks() {
        let all = ["v2", "latest", "v10", "v1", "v1"]
        let first = TagPage(all: all, n: 2, last: nil)
        #expect(first.tags == ["latest", "v1"])
        #expect(first.link(name: "a/b", n: 2) == #"</v2/a/b/tags/list?n=2&last=v1>; rel="next""#)
        let second = TagPage(all: all, n: 2, last: "v1")
        #expect(second.tags == ["v10", "v2"])
        #expect(second.nextLast == nil, "no page follows the last one")
        let third = TagPage(all: all, n: 2, last: "v2")
        #expect(third.tags.isEmpty && third.link(name: "a/b", n: 2) == nil)
        #expect(TagPage(all: all, n: nil, last: nil).tags == ["latest", "v1", "v10", "v2"])
        #expect(TagPage(all: ["a"], n: 0, last: nil).json(name: "x") == #"{"name":"x","tags":[]}"#)
    }
}
