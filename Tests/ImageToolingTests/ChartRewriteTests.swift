import Foundation
import Testing
@testable import ImageTooling

/// A chart of one values file and templates, as `SourceLoader` would give it.
func chart(values: String, templates: [String: String], files: [String: String] = [:]) -> [SourceFile] {
    var out = [SourceFile(path: "c/Chart.yaml", text: "apiVersion: v2\nname: c\nversion: 1.0.0\nappVersion: 2.0.0\n", role: .chartMetadata, chart: "c"),
               SourceFile(path: "c/values.yaml", text: values, role: .values, chart: "c")]
    for (name, text) in templates.sorted(by: { $0.key < $1.key }) {
        out.append(SourceFile(path: "c/templates/\(name)", text: text, role: .template, chart: "c"))
    }
    for (name, text) in files.sorted(by: { $0.key < $1.key }) {
        out.append(SourceFile(path: "c/\(name)", text: text, role: .chartFile, chart: "c"))
    }
    return out
}

let proxy = ProxyTarget(host: "reg.test", app: "acme")

@Suite struct ValuesEditorTests {
    func edited(_ values: String, _ change: ValuesChange, at path: [String]) throws -> String {
        let file = SourceFile(path: "v.yaml", text: values, role: .values, chart: "c")
        let made = try ValuesEditor.edits(change, at: path, in: file)
        return try ImageRewriter.apply(made.edits, insertions: made.insertions, to: file)
    }

    @Test(arguments: [
        // An empty flow list, a flow list with items, a block list, an empty value, a null.
        ("a: 1\nsecrets: []  # none yet\n", "a: 1\nsecrets: [{name: s}]  # none yet\n"),
        ("secrets: [{name: x}]\n", "secrets: [{name: s}, {name: x}]\n"),
        ("secrets:\n  - name: x\nb: 2\n", "secrets:\n  - name: s\n  - name: x\nb: 2\n"),
        ("secrets:\nb: 2\n", "secrets: [{name: s}]\nb: 2\n"),
        ("secrets: ~\n", "secrets: [{name: s}]\n"),
    ])
    func addsToAListWhereverItIsWritten(values: String, expected: String) throws {
        #expect(try edited(values, .appendToList("{name: s}"), at: ["secrets"]) == expected)
    }

    @Test func addsMissingKeysUnderTheDeepestOneThereIs() throws {
        #expect(try edited("global:\n  imageRegistry: \"\"\nimage: x\n", .appendToList("{name: s}"), at: ["global", "imagePullSecrets"])
            == "global:\n  imagePullSecrets: [{name: s}]\n  imageRegistry: \"\"\nimage: x\n")
        #expect(try edited("image: x\n", .set("true"), at: ["global", "security", "allowInsecureImages"])
            == "image: x\nglobal:\n  security:\n    allowInsecureImages: true\n")
        #expect(try edited("global: {}\n", .set("true"), at: ["global", "security", "allowInsecureImages"])
            == "global: {security: {allowInsecureImages: true}}\n")
    }

    @Test func setsAScalarKeepingItsComment() throws {
        #expect(try edited("global:\n  security:\n    allowInsecureImages: false # Bitnami\n", .set("true"), at: ["global", "security", "allowInsecureImages"])
            == "global:\n  security:\n    allowInsecureImages: true # Bitnami\n")
        #expect(try edited("image:\n  registry:  # docker.io when empty\n", .set("reg.test"), at: ["image", "registry"])
            == "image:\n  registry: reg.test  # docker.io when empty\n")
    }

    @Test func refusesWhatItCannotEditSafely() {
        #expect(throws: ToolingError.self) { try edited("secrets: {a: 1}\n", .appendToList("{name: s}"), at: ["secrets"]) }
        #expect(throws: ToolingError.self) { try edited("global: 3\n", .set("true"), at: ["global", "x"]) }
    }
}

@Suite struct ChartFilesTests {
    @Test func filesReadAsHelmReadsThem() throws {
        let files = chart(values: "{}", templates: ["t.yaml": """
            get: {{ .Files.Get "conf/app.ini" | trim }}
            missing: [{{ .Files.Get "nope" }}]
            lines: {{ .Files.Lines "conf/app.ini" | len }}
            glob: {{ range $path, $_ := .Files.Glob "conf/*.ini" }}{{ $path }} {{ end }}
            config: {{ (.Files.Glob "conf/**").AsConfig | indent 2 }}
            """], files: ["conf/app.ini": "a=1\nb=2", "conf/deep/x.txt": "x", "README.md": "readme"])
        let text = try #require(ChartRenderer(files).render().first).text.string
        #expect(text.contains("get: a=1\nb=2\n"))
        #expect(text.contains("missing: []"))
        #expect(text.contains("lines: 2"))
        #expect(text.contains("glob: conf/app.ini \n"))
        #expect(text.contains("app.ini: |-\n    a=1\n    b=2"))
        #expect(text.contains("x.txt: x"))
    }
}

@Suite struct ChartImageFindingTests {
    /// cert-manager hands its solver image to the controller as an argument.
    @Test func anImageInAContainerArgumentIsAnImage() throws {
        let files = chart(values: "solver: quay.io/jetstack/acmesolver:v1\n", templates: ["d.yaml": """
            containers:
              - name: controller
                image: quay.io/jetstack/controller:v1
                args:
                  - --v=2
                  - --acme-http01-solver-image={{ .Values.solver }}
                  - "--image-pull-policy=Always"
            """])
        let images = try ChartImageFinder.find(in: files)
        #expect(images.map { "\($0.reference?.description ?? "?") \($0.isArgument)" }.sorted()
            == ["quay.io/jetstack/acmesolver:v1 true", "quay.io/jetstack/controller:v1 false"])
        let rewritten = try ImageRewriter.rewrite(files, target: proxy, pullSecret: nil)
        #expect(rewritten.files.first { $0.path == "c/values.yaml" }?.text == "solver: reg.test/proxy/acme/quay.io/jetstack/acmesolver:v1\n")
    }

    /// traefik leaves `image.registry` empty and fills it in a helper: the rewrite sets the value.
    @Test func anEmptyValueATemplateFillsInIsSetNotTheTemplateEdited() throws {
        let files = chart(values: "image:\n  registry:\n  repository:  # traefik by default\n  tag: \"\"\nnameOverride: \"\"\n", templates: [
            "_helpers.tpl": #"{{- define "reg" }}{{ .Values.image.registry | default "docker.io" }}{{ end }}{{- define "repo" }}{{ .Values.image.repository | default "traefik" }}{{ end }}"#,
            "d.yaml": #"containers:\n  - image: {{ printf "%s/%s:%s" (include "reg" .) (include "repo" .) (.Values.image.tag | default .Chart.AppVersion) }}\n"#
                .replacingOccurrences(of: "\\n", with: "\n"),
        ])
        let result = try ImageRewriter.rewrite(files, target: proxy, pullSecret: nil)
        #expect(result.files.map(\.path) == ["c/values.yaml"], "no template is edited")
        #expect(result.files.first?.text == "image:\n  registry: reg.test\n  repository: proxy/acme/docker.io/library/traefik  # traefik by default\n  tag: \"\"\nnameOverride: \"\"\n")
    }

    /// The pull secret goes where the chart takes pull secrets from, found by rendering.
    @Test func pullSecretsGoIntoTheValuesTheTemplatesRead() throws {
        let files = chart(values: "image: quay.io/acme/app:1\nglobal:\n  imagePullSecrets: []\nworker:\n  pullSecrets: []\n", templates: [
            "web.yaml": """
                kind: Deployment
                metadata: {name: web}
                spec:
                  template:
                    spec:
                      {{- with .Values.global.imagePullSecrets }}
                      imagePullSecrets: {{ toYaml . | nindent 8 }}
                      {{- end }}
                      containers:
                        - name: web
                          image: "{{ .Values.image }}"
                """,
            "worker.yaml": """
                kind: Deployment
                metadata: {name: worker}
                spec:
                  template:
                    spec:
                      {{- if .Values.worker.pullSecrets }}
                      imagePullSecrets:
                      {{- range .Values.worker.pullSecrets }}
                        - name: {{ . }}
                      {{- end }}
                      {{- end }}
                      containers:
                        - name: worker
                          image: "{{ .Values.image }}"
                """,
        ])
        let result = try ImageRewriter.rewrite(files, target: proxy)
        let values = try #require(result.files.first { $0.path == "c/values.yaml" }?.text)
        // The global list holds names as maps; the worker's list holds plain names.
        #expect(values.contains("imagePullSecrets: [{name: replicated-pull-secret}]"))
        #expect(values.contains("pullSecrets: [replicated-pull-secret]"))
        #expect(!result.files.contains { $0.path.hasSuffix("web.yaml") || $0.path.hasSuffix("worker.yaml") }, "no template is edited")
    }

    @Test func aPodAfterASeparatorATrimmingActionClosesUpIsSeen() throws {
        // cert-manager's pattern: `---`, then `{{- if … -}}` eats the newlines on both sides, and
        // the render reads `---# comment`. Helm cuts documents there; YAML alone does not.
        let files = chart(values: "image: quay.io/acme/api:1.0\nimagePullSecrets: []\n", templates: [
            "all.yaml": """
                kind: ClusterRole
                metadata: {name: r}
                rules: []

                ---

                {{- if true -}}

                # The API server
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: api}
                spec:
                  template:
                    spec:
                      {{- with .Values.imagePullSecrets }}
                      imagePullSecrets: {{ toYaml . | nindent 8 }}
                      {{- end }}
                      containers:
                        - name: api
                          image: "{{ .Values.image }}"
                {{- end }}
                """,
        ])
        let result = try ImageRewriter.rewrite(files, target: proxy)
        let values = try #require(result.files.first { $0.path == "c/values.yaml" }?.text)
        #expect(values.contains("reg.test/proxy/acme/quay.io/acme/api:1.0"), "\(values)")
        #expect(values.contains("replicated-pull-secret"), "the Deployment was not seen: \(values)")
    }

    @Test func documentsAreCutWhereHelmCutsThemAndKeepTheirLines() throws {
        #expect(RenderedWorkloads.helmDocuments("a: 1\n---\nb: 2\n") == ["a: 1\n---\nb: 2\n"])
        let parts = RenderedWorkloads.helmDocuments("a: 1\n---# note\nb: 2\n---c: 3\n")
        #expect(parts == ["a: 1", "\n   # note\nb: 2", "\n\n\nc: 3\n"])
    }
}
