import Testing
@testable import OCI

@Suite struct DigestTests {
    @Test func parsesSHA256() throws {
        let d = try Digest(parsing: "sha256:" + String(repeating: "ab", count: 32))
        #expect(d.hex.count == 64)
        #expect(d.description.hasPrefix("sha256:ab"))
    }

    @Test(arguments: [
        "sha256:abc", "sha512:" + String(repeating: "a", count: 64), "sha256:" + String(repeating: "a", count: 128),
        "sha384:" + String(repeating: "a", count: 96), "sha256:" + String(repeating: "A", count: 64), "sha256", ":abc",
        "md5:" + String(repeating: "a", count: 32), "", "sha256:" + String(repeating: "g", count: 64),
        "sha256:../../../../etc/passwd" + String(repeating: "a", count: 40),
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: RegistryError.self) { try Digest(parsing: text) }
    }

    @Test func hashesKnownVector() {
        // FIPS 180-2 examples: SHA-256("abc") and SHA-512("abc").
        #expect(Digest.of(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let sha512 = Digest.of(Array("abc".utf8), algorithm: .sha512)
        #expect(sha512.description == "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        #expect((try? Digest(parsing: sha512.description)) == sha512)
        #expect(sha512 != Digest.of(Array("abc".utf8)))
    }

    @Test func hashesIncrementallyLikeAtOnce() {
        let bytes = (0..<10_000).map { UInt8($0 % 251) }
        var hasher = DigestHasher()
        for chunk in stride(from: 0, to: bytes.count, by: 777) {
            hasher.update(Array(bytes[chunk..<min(chunk + 777, bytes.count)]))
        }
        #expect(hasher.finalize() == Digest.of(bytes))
        #expect(hasher.count == 10_000)
    }
}

@Suite struct RepositoryNameTests {
    @Test(arguments: ["library/nginx", "a", "my-org/my_app", "a__b/c.d/e--f", "proxy/acme/up/org/app", "proxy/acme/127.0.0.1:5000/x"])
    func acceptsValid(_ name: String) throws {
        #expect(try RepositoryName(parsing: name).description == name)
    }

    @Test(arguments: ["", "..", "a/../b", "A/b", "a//b", "/a", "a/", "-a", "a-", "a_-b", "a:5000/b", "x/127.0.0.1:5000/y",
                      "a%2fb", "proxy/acme/host:notaport/x", String(repeating: "a", count: 256)])
    func rejectsInvalid(_ name: String) {
        #expect(throws: RegistryError.self) { try RepositoryName(parsing: name) }
    }

    @Test func tagsFollowTheSpec() throws {
        #expect(try ManifestReference(parsing: "v1.2.3-rc_1") == .tag("v1.2.3-rc_1"))
        #expect(throws: RegistryError.self) { try ManifestReference(parsing: ".hidden") }
        #expect(throws: RegistryError.self) { try ManifestReference(parsing: String(repeating: "t", count: 129)) }
        if case .digest = try ManifestReference(parsing: "sha256:" + String(repeating: "0", count: 64)) {} else {
            Issue.record("a digest reference parsed as a tag")
        }
    }
}

@Suite struct RegistryPathTests {
    let digest = "sha256:" + String(repeating: "1", count: 64)

    @Test func parsesEndpoints() throws {
        #expect(try RegistryPath.parse("/v2/") == .base)
        #expect(try RegistryPath.parse("/v2") == .base)
        let name = try RepositoryName(parsing: "proxy/acme/up/org/app")
        #expect(try RegistryPath.parse("/v2/proxy/acme/up/org/app/manifests/v1") == .manifest(name, .tag("v1")))
        #expect(try RegistryPath.parse("/v2/proxy/acme/up/org/app/blobs/\(digest)") == .blob(name, try Digest(parsing: digest)))
        #expect(try RegistryPath.parse("/v2/proxy/acme/up/org/app/tags/list") == .tags(name))
        #expect(try RegistryPath.parse("/v2/proxy/acme/up/org/app/referrers/\(digest)") == .referrers(name, try Digest(parsing: digest)))
        #expect(try RegistryPath.parse("/v2/acme/app/blobs/uploads/") == .uploads(try RepositoryName(parsing: "acme/app")))
        #expect(try RegistryPath.parse("/v2/acme/app/blobs/uploads/abc-123") == .upload(try RepositoryName(parsing: "acme/app"), session: "abc-123"))
    }

    @Test func aRepositoryMayBeNamedLikeAnEndpoint() throws {
        let name = try RepositoryName(parsing: "org/manifests")
        #expect(try RegistryPath.parse("/v2/org/manifests/manifests/latest") == .manifest(name, .tag("latest")))
    }

    @Test func unknownPathsAreNotEndpoints() throws {
        #expect(try RegistryPath.parse("/api/v1/apps") == nil)
        #expect(try RegistryPath.parse("/v2/a/b") == nil)
    }

    @Test(arguments: ["/v2/proxy/%2e%2e/x/manifests/v1", "/v2/a%2fb/c/manifests/v1", "/v2/a/../b/manifests/v1",
                      "/v2/A/b/manifests/v1", "/v2/a/b/manifests/bad:digest", "/v2/a\\b/c/manifests/v1"])
    func rejectsHostileNames(_ path: String) {
        #expect(throws: RegistryError.self) { try RegistryPath.parse(path) }
    }
}
