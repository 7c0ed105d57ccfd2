import Foundation
import OCI
import Testing
import Yams
@testable import ImageTooling

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let target = ProxyTarget(host: "registry.portcullis.test", app: "acme")

func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

@Suite struct ImageReferenceTests {
    @Test func parsesAndProxies() throws {
        let nginx = try #require(ImageReference.parse("nginx"))
        #expect(nginx.registry == nil && nginx.upstreamRepository == "library/nginx" && nginx.canonicalRegistry == "docker.io")
        let pinned = try #require(ImageReference.parse("quay.io/org/api:1.0@sha256:" + String(repeating: "a", count: 64)))
        #expect(pinned.registry == "quay.io" && pinned.tag == "1.0" && pinned.digest != nil)
        #expect(pinned.proxied(host: "h", app: "a").description == "h/proxy/a/quay.io/org/api:1.0@" + pinned.digest!)
        let ported = try #require(ImageReference.parse("127.0.0.1:5000/org/api:2"))
        #expect(ported.registry == "127.0.0.1:5000" && ported.repository == "org/api")
        #expect(ImageReference.parse("myorg/api")?.registry == nil)
        for bad in ["", "{{ .Values.image }}", "UPPER/case", "a b", "x@sha256:short"] { #expect(ImageReference.parse(bad) == nil, "\(bad)") }
    }

    @Test func hostsWithPortsNeedARegistryName() throws {
        let ported = try #require(ImageReference.parse("127.0.0.1:5000/org/api:2"))
        #expect(throws: ToolingError.self) { try target.proxied(ported) }
        let named = ProxyTarget(host: "h", app: "a", upstreamNames: ["127.0.0.1:5000": "upstream"])
        #expect(try named.proxied(ported).description == "h/proxy/a/upstream/org/api:2")
    }
}

@Suite struct ImageFinderTests {
    @Test func findsEveryWorkloadKindWithLines() throws {
        let file = try SourceLoader.load(fixtures + "/manifests/workloads.yaml")[0]
        let found = try ImageFinder.find(in: file)
        let summary = found.map { "\($0.line) \($0.context) \($0.reference)" }
        #expect(summary == [
            "11 Deployment/web initContainers[0] quay.io/acme/migrate:2.1",
            "14 Deployment/web containers[0] ghcr.io/acme/web:1.0.17",
            "29 StatefulSet/db containers[0] postgres:16@sha256:" + String(repeating: "1", count: 64),
            "38 DaemonSet/agent containers[0] registry.example.com/acme/agent:3",
            "51 CronJob/nightly containers[0] ghcr.io/acme/jobs:5",
            "51 Job/reuse containers[0] ghcr.io/acme/jobs:5",
            "74 Job/once containers[0] nginx",
            "83 Pod/debug containers[0] registry.portcullis.test/proxy/acme/ghcr.io/acme/web:1.0.17",
            "86 Pod/debug ephemeralContainers[0] docker.io/library/busybox:1.36",
        ])
    }

    @Test func findsValuesStringsAndMaps() throws {
        let file = try SourceLoader.load(fixtures + "/values/values-nested.yaml")[0]
        #expect(file.role == .values)
        let found = try ImageFinder.find(in: file).map { "\($0.line) \($0.context) \($0.reference)" }
        #expect(found == [
            "4 image ghcr.io/acme/api:1.2.3",
            "8 worker.image quay.io/acme/worker:v2",
            "12 sidecar.image docker.io/envoyproxy/envoy:v1.30.1",
            "15 tools.[0].image ghcr.io/acme/migrate@sha256:" + String(repeating: "2", count: 64),
        ])
    }

    @Test func malformedYAMLNamesFileAndLine() {
        let bad = SourceFile(path: "bad.yaml", text: "a: 1\nb: [unclosed\nc: 3\n", role: .manifests)
        #expect(throws: ToolingError.self) { try ImageFinder.find(in: bad) }
        do {
            _ = try ImageRewriter.rewrite([bad], target: target)
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "bad.yaml" && error.line != nil)
        }
    }
}

@Suite struct ImageRewriterTests {
    @Test(arguments: [("manifests/workloads.yaml", "manifests/workloads.golden.yaml.txt"),
                      ("values/values-nested.yaml", "values/values-nested.golden.yaml.txt")])
    func matchesGoldenFiles(input: String, golden: String) throws {
        let files = try SourceLoader.load(fixtures + "/" + input)
        let result = try ImageRewriter.rewrite(files, target: target)
        #expect(result.files.count == 1)
        #expect(result.files.first?.text == (try text(fixtures + "/" + golden)))
        // Rewriting the result again changes nothing: already-proxied images are left alone.
        let again = try ImageRewriter.rewrite(result.files, target: target)
        #expect(again.changes.isEmpty && again.files.isEmpty)
    }

    @Test func kustomizationMatchesGolden() throws {
        let files = try SourceLoader.load(fixtures + "/manifests")
        var occurrences: [ImageOccurrence] = []
        for f in files { occurrences += try ImageFinder.find(in: f) }
        let out = try ImageRewriter.kustomization(resources: ["workloads.yaml"], occurrences: occurrences, target: target)
        #expect(out == (try text(fixtures + "/manifests/kustomization.golden.yaml.txt")))
    }

    @Test func filtersWhichImagesToRewrite() throws {
        let files = try SourceLoader.load(fixtures + "/values/values-nested.yaml")
        let result = try ImageRewriter.rewrite(files, target: target, include: { $0.canonicalRegistry == "quay.io" }, pullSecret: nil)
        #expect(result.changes.map(\.from) == ["quay.io/acme/worker:v2"])
    }

    /// Helm renders `imagePullSecrets: {{ toYaml .Values.x }}` of an unset value as null: such a
    /// pod had its image proxied and no secret to pull it with.
    @Test(arguments: ["null", "~", "", "{}", "\n    null"])
    func aPodWhosePullSecretsAreNothingGetsTheSecret(value: String) throws {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec:\n  imagePullSecrets: \(value)\n  containers:\n  - name: c\n    image: nginx\n"
        let result = try ImageRewriter.rewrite([SourceFile(path: "pod.yaml", text: text, role: .manifests)], target: target,
                                               pullSecret: "replicated-pull-secret")
        let out = try #require(result.files.first?.text)
        let pod = try #require(try Yams.load(yaml: out) as? [String: Any])
        let spec = try #require(pod["spec"] as? [String: Any])
        #expect((spec["imagePullSecrets"] as? [[String: String]]) == [["name": "replicated-pull-secret"]], "\(out)")
    }
}

@Suite struct ChartLintTests {
    let before = repoRoot + "/e2e/charts/slackernews-before"

    @Test func tutorialChartBeforeAndAfterRewrite() throws {
        let files = try SourceLoader.load(before)
        let findings = try ChartLinter.lint(files, app: "acme", proxyHost: "registry.portcullis.test")
        #expect(findings.filter { $0.message.contains("bypasses the proxy") }.map(\.line) == [4, 7])
        #expect(findings.contains { $0.message.contains("no pull-secret template") })
        // Its pods pull from the vendor's registries, not through the proxy: naming the secret is not yet their concern.
        #expect(!findings.contains { $0.message.contains("name no pull secret") })

        let rewritten = try ImageRewriter.rewrite(files, target: target)
        var after = files.filter { f in !rewritten.files.contains { $0.path == f.path } }
        after += rewritten.files
        #expect(rewritten.files.contains { $0.path.hasSuffix("templates/imagepullsecret.yaml") })
        #expect(try ChartLinter.lint(after, app: "acme", proxyHost: "registry.portcullis.test").isEmpty)
    }

    @Test func flagsBadPullSecretTemplates() throws {
        let workload = SourceFile(path: "t/deploy.yaml", text: "kind: Deployment\nspec:\n  imagePullSecrets: []\n  containers: []\n", role: .template)
        func lint(_ secret: String) throws -> [String] {
            try ChartLinter.lint([workload, SourceFile(path: "t/secret.yaml", text: secret, role: .template)], app: "acme", proxyHost: nil)
                .map(\.message)
        }
        let good = ImageRewriter.pullSecretTemplate(name: "replicated-pull-secret")
        #expect(try lint(good).isEmpty)
        #expect(try lint(ImageRewriter.pullSecretTemplate(name: "replicated")).contains { $0.contains("clashes") })
        let unguarded = good.split(separator: "\n").filter { !$0.contains("{{ if") && !$0.contains("{{ end") }.joined(separator: "\n")
        #expect(try lint(unguarded).contains { $0.contains("not guarded") })
        #expect(try lint(good.replacingOccurrences(of: "type: kubernetes.io/dockerconfigjson", with: "type: Opaque"))
            .contains { $0.contains("type kubernetes.io/dockerconfigjson") })
    }

    /// Lint reads what the chart renders with Portcullis's values: a pod whose `imagePullSecrets`
    /// sits behind a condition those values do not meet does not name the secret.
    @Test func aPodWhosePullSecretsAreBehindAConditionIsFlagged() throws {
        let chart = "c"
        let deployment = """
            kind: Deployment
            metadata: {name: web}
            spec:
              template:
                spec:
                  {{- with .Values.imagePullSecrets }}
                  imagePullSecrets: {{ toYaml . | nindent 6 }}
                  {{- end }}
                  containers:
                    - name: web
                      image: {{ .Values.image }}
            """
        func files(_ values: String) -> [SourceFile] {
            [SourceFile(path: "c/Chart.yaml", text: "name: c\nversion: 1.0.0\n", role: .chartMetadata, chart: chart),
             SourceFile(path: "c/values.yaml", text: values, role: .values, chart: chart),
             SourceFile(path: "c/templates/web.yaml", text: deployment, role: .template, chart: chart),
             SourceFile(path: "c/templates/secret.yaml", text: ImageRewriter.pullSecretTemplate(name: "replicated-pull-secret"), role: .template, chart: chart)]
        }
        let proxied = "image: registry.portcullis.test/proxy/acme/quay.io/acme/web:1\n"
        let bare = try ChartLinter.lint(files(proxied + "imagePullSecrets: []\n"), app: "acme", proxyHost: "registry.portcullis.test")
        #expect(bare.map(\.description) == ["c/templates/web.yaml:9: error: the pods of Deployment/web pull through the proxy but name no pull secret: set the values the chart takes pull secrets from to replicated-pull-secret (`portcullis images rewrite` does), or add imagePullSecrets"])
        // The rewrite sets the value the template reads, rather than adding a second `imagePullSecrets`.
        let rewritten = try ImageRewriter.rewrite(files(proxied + "imagePullSecrets: []\n"), target: target)
        let values = try #require(rewritten.files.first { $0.path == "c/values.yaml" }?.text)
        #expect(values.contains("imagePullSecrets: [{name: replicated-pull-secret}]"))
        #expect(try ChartLinter.lint(files(values), app: "acme", proxyHost: "registry.portcullis.test").isEmpty)
    }

    @Test func hardCodedTemplateImagesAreFlagged() throws {
        let t = SourceFile(path: "t/templates/job.yaml", text: "kind: Job\nspec:\n  imagePullSecrets: []\n  containers:\n    - image: busybox:1.36\n",
                           role: .template, chart: "t")
        let secret = SourceFile(path: "t/templates/s.yaml", text: ImageRewriter.pullSecretTemplate(name: "x"), role: .template, chart: "t")
        let findings = try ChartLinter.lint([t, secret], app: "acme", proxyHost: nil)
        #expect(findings.map(\.line) == [5])
    }
}
