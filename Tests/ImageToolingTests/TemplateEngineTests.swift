import Foundation
import OCI
import Testing
import Yams
@testable import ImageTooling

/// Renders `template` with `values` (YAML) the way the chart image finder does.
func render(_ template: String, values: String = "{}", defines: String = "") throws -> (text: TracedText, speculative: [TracedText]) {
    let parsed = try TemplateParser.parse(template, file: "t.yaml")
    let helpers = try TemplateParser.parse(defines, file: "_helpers.tpl")
    let node = try #require(try Yams.compose(yaml: values))
    let root = TemplateValue.dict(["Values": TemplateValue.from(node, file: "values.yaml"),
                                   "Chart": .dict(["Name": .string(.computed("demo")), "AppVersion": .string(.computed("9.9"))])])
    let engine = TemplateEngine(defines: parsed.defines.merging(helpers.defines) { a, _ in a })
    var scope = TemplateEngine.Scope(dot: root, root: root)
    var out = TracedText()
    engine.render(parsed.nodes, scope: &scope, into: &out, speculate: true)
    return (out, engine.speculative)
}

@Suite struct TemplateParserTests {
    @Test func trimMarkersCommentsAndBlocks() throws {
        let text = try render("""
            a {{- /* a comment with {{ braces }} inside */ -}} b
            {{ if .Values.x }}X{{ else if .Values.b }}Y{{ else }}Z{{ end }}
            {{- define "named" }}[{{ . }}]{{ end }}
            {{ template "named" "t" }} {{ block "blk" "b" }}({{ . }}){{ end }}
            """, values: "b: true").text.string
        #expect(text == "ab\nY\n[t] (b)")
    }

    @Test(arguments: ["{{ if .a }}never closed", "{{ end }}", "{{ .a | }}", "{{ \"unterminated }}", "{{ .a", "{{/* open"])
    func syntaxErrorsNameTheLine(_ source: String) {
        #expect(throws: TemplateSyntaxError.self) { try TemplateParser.parse("line one\n" + source, file: "t.yaml") }
    }

    @Test func parenthesizedValuesTakeFields() throws {
        let text = try render(#"{{ if hasKey ((.Values.global).replicated) "dockerconfigjson" }}yes{{ else }}no{{ end }}"#,
                              values: "global:\n  replicated:\n    dockerconfigjson: abc\n").text.string
        #expect(text == "yes")
        #expect(try render(#"{{ if hasKey ((.Values.global).replicated) "dockerconfigjson" }}yes{{ else }}no{{ end }}"#).text.string == "no")
    }
}

@Suite struct TemplateEngineTests {
    @Test func printfAndConcatenationKeepEachCharactersOrigin() throws {
        let out = try render(#"{{ printf "%s/%s:%s" .Values.r .Values.p .Values.t }}"#, values: "r: quay.io\np: org/api\nt: v1\n").text
        #expect(out.string == "quay.io/org/api:v1")
        let origins = out.spans.map { span -> String in
            if case .value(let path) = span.origin.kind { return path }
            return "literal"
        }
        #expect(origins == ["r", "literal", "p", "literal", "t"])
        #expect(out.span(at: 8)?.origin.line == 2, "the repository comes from line 2 of the values")
    }

    @Test func defaultQuoteAndToStringPassOriginsThrough() throws {
        let out = try render(#"{{ .Values.image | default "nginx" | quote }} {{ .Values.tag | default .Chart.AppVersion | toString }}"#,
                             values: "image: ghcr.io/a/b\ntag: \"\"\n").text
        #expect(out.string == #""ghcr.io/a/b" 9.9"#)
        if case .value(let path)? = out.span(at: 1)?.origin.kind { #expect(path == "image") } else { Issue.record("lost the origin") }
        if case .computed? = out.span(at: 14)?.origin.kind {} else { Issue.record("the Chart's appVersion is not an editable value") }
    }

    @Test func withAndRangeRebindTheDotAndVariablesScope() throws {
        let values = "workers:\n  - {name: a, image: x/a:1}\n  - {name: b, image: x/b:1}\nagent: {image: x/agent:2}\n"
        let out = try render("""
            {{- range $i, $w := .Values.workers }}{{ $i }}={{ .image }},{{ $w.name }};{{ end -}}
            {{- with .Values.agent }}[{{ .image }}|{{ $.Values.agent.image }}]{{ end -}}
            {{- $x := "outer" }}{{ if true }}{{ $x = "changed" }}{{ end }}{{ $x }}
            """, values: values).text.string
        #expect(out == "0=x/a:1,a;1=x/b:1,b;[x/agent:2|x/agent:2]changed")
    }

    @Test func includeWithADictAndTheHelpersConditions() throws {
        let helper = """
            {{- define "img" -}}
            {{- $reg := .root.registry -}}
            {{- if .global.imageRegistry }}{{ $reg = .global.imageRegistry }}{{ end -}}
            {{- printf "%s/%s:%s" $reg .root.repository (.root.tag | toString) -}}
            {{- end -}}
            """
        let values = "global: {imageRegistry: \"\"}\nimage: {registry: docker.io, repository: bitnami/nginx, tag: 1.25}\n"
        let out = try render(#"{{ include "img" (dict "root" .Values.image "global" .Values.global) }}"#, values: values, defines: helper).text
        #expect(out.string == "docker.io/bitnami/nginx:1.25")
        let overridden = try render(#"{{ include "img" (dict "root" .Values.image "global" .Values.global) }}"#,
                                    values: values.replacingOccurrences(of: "\"\"", with: "mirror.example"), defines: helper).text
        #expect(overridden.string == "mirror.example/bitnami/nginx:1.25")
    }

    @Test func whatCannotBeEvaluatedIsMarkedNeverGuessed() throws {
        let out = try render(#"image: {{ .Values.repo }}:{{ vaultSecret "v1" "x" }}"#, values: "repo: a/b").text
        #expect(out.unknownReason?.reason.contains("vaultSecret") == true)
        #expect(out.string.contains(TracedText.unknownMarker))
        let capabilities = try render("{{ .Capabilities.KubeVersion.Minor }}").text
        #expect(capabilities.unknownReason == nil, "a field of an absent map is empty, as in Helm")
    }

    @Test func branchesTheValuesDoNotTakeAreRenderedSeparately() throws {
        let (text, speculative) = try render("""
            {{- if .Values.metrics.enabled }}
            image: {{ .Values.metrics.image }}
            {{- else }}
            image: {{ .Values.main }}
            {{- end }}
            """, values: "metrics: {enabled: false, image: exporter:1}\nmain: app:2\n")
        #expect(text.string == "\nimage: app:2")
        #expect(speculative.map(\.string) == ["\nimage: exporter:1"])
    }

    @Test func toYamlOfAContainerListKeepsTheImagesOrigins() throws {
        let out = try render("{{ toYaml .Values.extra }}", values: "extra:\n  - name: side\n    image: ghcr.io/acme/side:3\n").text
        #expect(out.string == "- image: ghcr.io/acme/side:3\n  name: side")
        if case .value(let path)? = out.span(at: 9)?.origin.kind { #expect(path == "extra.[0].image") } else { Issue.record("lost the origin") }
    }
}

@Suite struct ChartImageTests {
    let golden = repoRoot + "/e2e/charts/golden"

    @Test func theVendorDocumentsExampleIsFollowedToItsValues() throws {
        let images = try ChartImageFinder.find(in: try SourceLoader.load(golden + "/vendor-docs"))
        #expect(images.map { "\($0.reference?.description ?? "?") \($0.valuePaths) \($0.location.line) \($0.speculative)" } == [
            "busybox@sha256:" + String(repeating: "a", count: 64) + " [] 20 false",
            "quay.io/my-org/api:v1.0.1 [\"images.myapp.apiImageRepository\", \"images.myapp.apiImageTag\"] 5 false",
            "nginx:1.25 [\"sidecar\"] 8 false",
        ])
    }

    @Test func subchartsSeeTheirValuesUnderTheirKeyAndTheParentsGlobal() throws {
        let images = try ChartImageFinder.find(in: try SourceLoader.load(golden + "/umbrella"))
        let backend = try #require(images.first { $0.chart.hasSuffix("charts/backend") })
        #expect(backend.reference?.description == "registry.acme.example/acme/backend:2.1")
        #expect(backend.value.span(at: 0)?.origin.file.hasSuffix("umbrella/values.yaml") == true, "the parent's global wins")
        #expect(backend.location.file.hasSuffix("charts/backend/values.yaml"), "the repository is the subchart's own value")
    }

    @Test func editsLandInTheValuesAndTemplateTextTheNameIsMadeOf() throws {
        let files = try SourceLoader.load(golden + "/umbrella")
        let result = try ImageRewriter.rewrite(files, target: ProxyTarget(host: "reg.test", app: "acme"), pullSecret: nil)
        let byName = Dictionary(uniqueKeysWithValues: result.files.map { (String($0.path.dropFirst(golden.count + 1)), $0.text) })
        #expect(byName["umbrella/values.yaml"]?.contains("imageRegistry: reg.test\n") == true)
        #expect(byName["umbrella/templates/frontend.yaml"]?.contains(#"image: "{{ .Values.global.imageRegistry }}/proxy/acme/registry.acme.example/acme/frontend:{{ .Values.frontendTag }}""#) == true)
        #expect(byName["umbrella/charts/backend/values.yaml"]?.contains("repository: proxy/acme/registry.acme.example/acme/backend\n") == true)
        #expect(byName["umbrella/charts/backend/values.yaml"]?.contains("imageRegistry: docker.io") == true, "the overridden default stays")
    }

    @Test func aNameThatCannotBeEditedIsAnErrorThatSaysWhere() throws {
        let chart = "c"
        let files = [
            SourceFile(path: "c/Chart.yaml", text: "name: c\nversion: 1.0.0\n", role: .chartMetadata, chart: chart),
            SourceFile(path: "c/values.yaml", text: "registry: quay.io\n", role: .values, chart: chart),
            SourceFile(path: "c/templates/d.yaml", text: "containers:\n  - image: {{ .Values.registry }}/{{ .Chart.Name }}:1\n",
                       role: .template, chart: chart),
        ]
        // The registry can be rewritten, but the repository is the chart's name: not a value.
        let found = try ChartImageFinder.find(in: files)
        #expect(found.first?.reference?.description == "quay.io/c:1")
        do {
            _ = try ImageRewriter.rewrite(files, target: ProxyTarget(host: "reg.test", app: "acme"), pullSecret: nil)
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "c/templates/d.yaml" && error.line == 2)
        }
        _ = try ImageRewriter.rewrite(files, target: ProxyTarget(host: "reg.test", app: "acme"), include: { $0.registry != "quay.io" },
                                      pullSecret: nil)
    }

    @Test func oneValueNeededTwoWaysIsRefused() throws {
        let files = [
            SourceFile(path: "c/values.yaml", text: "repo: acme/api\n", role: .values, chart: "c"),
            SourceFile(path: "c/templates/d.yaml", text: "containers:\n  - image: quay.io/{{ .Values.repo }}:1\n  - image: ghcr.io/{{ .Values.repo }}:1\n",
                       role: .template, chart: "c"),
        ]
        #expect(throws: ToolingError.self) {
            try ImageRewriter.rewrite(files, target: ProxyTarget(host: "reg.test", app: "acme"), pullSecret: nil)
        }
    }
}

@Suite struct AirGapRewriteTests {
    let chart = "c"

    func files(_ values: String) -> [SourceFile] {
        [
            SourceFile(path: "c/Chart.yaml", text: "name: c\nversion: 1.0.0\n", role: .chartMetadata, chart: chart),
            SourceFile(path: "c/values.yaml", text: values, role: .values, chart: chart),
            SourceFile(path: "c/templates/d.yaml", text: """
                containers:
                  - image: {{ .Values.api }}
                  - image: "{{ .Values.web.registry }}/{{ .Values.web.repository }}:{{ .Values.web.tag }}"
                  - image: {{ .Values.plain | quote }}
                """, role: .template, chart: chart),
        ]
    }

    /// Images go where `bundle push` put them: the proxy prefix is swapped for the registry's own.
    @Test func imagesPointAtTheCustomersRegistryNamedAsBundlePushNamesThem() throws {
        let result = try ImageRewriter.rewrite(files("""
            api: portcullis.example/proxy/acme/quay/org/api:v1 # proxied
            web:
              registry: portcullis.example
              repository: acme/web
              tag: "2"
            plain: nginx:1.25
            """), target: .mirror("mirror.internal:5000/offline"), pullSecret: nil)
        let values = try #require(result.files.first { $0.path == "c/values.yaml" }?.text)
        #expect(values.contains("api: mirror.internal:5000/offline/org/api:v1 # proxied"))
        #expect(values.contains("registry: mirror.internal:5000\n") && values.contains("repository: offline/acme/web\n"))
        #expect(values.contains("plain: mirror.internal:5000/offline/library/nginx:1.25"))
        #expect(result.changes.map(\.to).sorted() == ["mirror.internal:5000/offline/acme/web:2", "mirror.internal:5000/offline/library/nginx:1.25",
                                                       "mirror.internal:5000/offline/org/api:v1"])
        let again = try ImageRewriter.rewrite(result.files + files("").filter { $0.role != .values },
                                              target: .mirror("mirror.internal:5000/offline"), pullSecret: nil)
        #expect(again.changes.isEmpty, "already pointing at the registry")
    }

    @Test(arguments: [
        ("portcullis.example/proxy/acme/quay/org/api:v1", "org/api"),
        ("portcullis.example/acme/web:2", "acme/web"),
        ("nginx", "library/nginx"),
        ("quay.io/org/api@sha256:" + String(repeating: "a", count: 64), "org/api"),
        ("registry.example/proxy/x", "proxy/x"),
    ])
    func airGapRepositoryDropsTheRegistryAndTheProxyPrefix(reference: String, expected: String) throws {
        #expect(try #require(ImageReference.parse(reference)).airGapRepository == expected)
    }
}

/// Inputs the fuzzer found (Fuzz/regressions/chart-images/), pinned.
@Suite struct TemplateFuzzFoundTests {
    /// As Helm prints them (`{{ 9.3e18 }}` is `9.3e+18` there).
    @Test(arguments: [(7.7777777777777778e20, "7.777777777777778e+20"), (9.3e18, "9.3e+18"), (12.0, "12"), (1e21, "1e+21")])
    func integralFloatsBeyondInt64PrintAsGoPrintsThemNotTrap(value: Double, printed: String) {
        #expect(TemplateValue.format(value) == printed)
    }

    @Test func aHugeNumberInATemplateIsNoCrash() throws {
        let files = [
            SourceFile(path: "c/Chart.yaml", text: "name: c\nversion: 1.0.0\n", role: .chartMetadata, chart: "c"),
            SourceFile(path: "c/templates/t.yaml", text: "containers:\n  - image: {{777777777777777777772 }}\n  - image: {{ int 1e300 }}\n",
                       role: .template, chart: "c"),
            SourceFile(path: "c/values.yaml", text: "", role: .values, chart: "c"),
        ]
        let images = try ChartImageFinder.find(in: files)
        #expect(images.count == 2)
    }

    /// Found as a timeout: each level doubles the work, and the depth limit (64) comes after 2^64 renders.
    @Test func aTemplateIncludingItselfTwiceStopsWithAReason() throws {
        let defines = #"{{- define "img" -}}x{{ include "img" . }}{{ include "img" . }}{{- end -}}"#
        let out = try render(#"image: {{ include "img" . }}"#, defines: defines).text
        #expect(unknownReasons(out).contains { $0.contains("rendering stopped") }, "\(Set(unknownReasons(out)))")
    }

    @Test func nestedLoopsShareOneBudget() throws {
        let out = try render("{{ range 10000 }}{{ range 10000 }}{{ range 10000 }}x{{ end }}{{ end }}{{ end }}").text
        #expect(out.unknownReason?.reason.contains("rendering stopped") == true)
        #expect(out.string.count < 1_000_000)
    }

    @Test func tplCannotEscapeTheBudget() throws {
        let defines = #"{{- define "t" -}}{{ tpl "{{ include \"t\" . }}{{ include \"t\" . }}" . }}{{- end -}}"#
        let out = try render(#"{{ include "t" . }}"#, defines: defines).text
        #expect(out.unknownReason != nil)
    }

    @Test func functionsThatMultiplyTextRefuseResultsBeyondTheBudget() throws {
        let indented = try render(#"{{ indent 100000000000 "x" }}"#).text
        #expect(indented.unknownReason?.reason.contains("too long") == true)
        let values = "a: \(String(repeating: "a", count: 1000))\nb: \(String(repeating: "b", count: 5000))\n"
        let replaced = try render(#"{{ .Values.a | replace "a" .Values.b }}"#, values: values).text
        #expect(replaced.unknownReason?.reason.contains("too long") == true)
        let small = try render(#"{{ indent 2 "x" }}|{{ "aXa" | replace "X" "-" }}"#).text
        #expect(small.string == "  x|a-a")
    }

    @Test func theTimeoutInputFromTheFuzzerFinishes() throws {
        let input = String(decoding: try Data(contentsOf: FuzzRegressionFiles.file("chart-images", prefix: "chart-images-timeout-")), as: UTF8.self)
        let parts = input.components(separatedBy: "\n---values---\n")
        let files = [
            SourceFile(path: "c/Chart.yaml", text: "name: c\nversion: 1.0.0\n", role: .chartMetadata, chart: "c"),
            SourceFile(path: "c/templates/t.yaml", text: parts[0], role: .template, chart: "c"),
            SourceFile(path: "c/values.yaml", text: parts.count > 1 ? parts[1] : "", role: .values, chart: "c"),
        ]
        let images = try ChartImageFinder.find(in: files)
        let stopped = try #require(images.first { $0.renderStopped }, "the images after the stop are not silently missing")
        #expect(stopped.problem?.contains("rendering stopped") == true)
        #expect(stopped.fieldDescription.hasPrefix("the rest of the template after c/templates/t.yaml:"))
    }
}

func unknownReasons(_ text: TracedText) -> [String] {
    text.spans.compactMap { if case .unknown(let why) = $0.origin.kind { why } else { nil } }
}

enum FuzzRegressionFiles {
    static func file(_ target: String, prefix: String) throws -> URL {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/regressions/\(target)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(prefix) }
        return dir.appendingPathComponent(try #require(names.first))
    }
}

