import Testing
@testable import OCI

@Suite struct ManifestTests {
    let d1 = "sha256:" + String(repeating: "1", count: 64)
    let d2 = "sha256:" + String(repeating: "2", count: 64)

    @Test func parsesImageManifest() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(d1)","size":10},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(d2)","size":20}]}
        """
        let m = try ManifestSummary(parsing: Array(json.utf8), contentType: nil)
        #expect(m.mediaType == ManifestMediaType.ociManifest)
        #expect(m.requiredBlobDigests.map(\.description) == [d1, d2])
        #expect(!m.isIndex)
    }

    @Test func parsesIndexAndTakesTypeFromHeader() throws {
        let json = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(d1)","size":5}]}"#
        let m = try ManifestSummary(parsing: Array(json.utf8), contentType: ManifestMediaType.dockerList)
        #expect(m.isIndex)
        #expect(m.manifests.count == 1)
    }

    @Test(arguments: [
        "not json",
        #"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#,
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
        #"{"schemaVersion":2,"mediaType":"text/plain","config":{"digest":"sha256:00","size":1}}"#,
    ])
    func rejectsInvalid(_ json: String) {
        #expect(throws: RegistryError.self) { try ManifestSummary(parsing: Array(json.utf8), contentType: nil) }
    }

    /// A size is a byte count; clients size downloads by it and check what arrives against it.
    @Test func rejectsNegativeSizes() {
        let layer = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(d1)","size":10},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(d2)","size":-1}]}
        """
        let child = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"\#(d1)","size":-5}]}"#
        for json in [layer, child] {
            #expect(throws: RegistryError.self) { try ManifestSummary(parsing: Array(json.utf8), contentType: nil) }
        }
    }

    @Test func rejectsContentTypeDisagreeingWithDocument() {
        let json = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        #expect(throws: RegistryError.self) {
            try ManifestSummary(parsing: Array(json.utf8), contentType: ManifestMediaType.ociManifest)
        }
    }
}
