import Foundation
import Testing
@testable import ImageTooling

/// Each function against what Helm 4.2 itself printed for the same template (the expected
/// texts were read off `helm template` through helm-python-sdk, not written by hand).
@Suite struct TemplateFunctionTests {
    static let helmPrinted: [(template: String, helm: String)] = [
        (#"{{ printf "%v|%s|%d|%q|%x|%05.2f|%t" 1.5 "s" 3 "q" 255 3.14159 true }}"#, #"1.5|s|3|"q"|ff|03.14|true"#),
        (#"{{ printf "%5s|%-5s|%05d|%+d|%x|%X|%o|%b|%c|%q|%v|%.2s|%8.3f|%e|%g" "ab" "ab" 42 5 255 255 8 5 65 "a\"b" true "abcdef" 3.14159 1234.5678 0.000012 }}"#,
         #"   ab|ab   |00042|+5|ff|FF|10|101|A|"a\"b"|true|ab|   3.142|1.234568e+03|1.2e-05"#),
        (#"{{ printf "%d %s" 1 }} {{ printf "%s" "a" "b" }} {{ printf "%d" 1.5 }} {{ printf "%s" 3 }} {{ printf "%v" 1e6 }}"#,
         "1 %!s(MISSING) a%!(EXTRA string=b) %!d(float64=1.5) %!s(int=3) 1e+06"),
        ("{{ 7.7777777777777778e20 }} {{ 9.3e18 }} {{ 12.0 }} {{ 1e21 }} {{ 123456.0 }} {{ 1234567.0 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.5e-7 }} {{ -2.5 }} {{ 100.25 }}",
         "7.777777777777778e+20 9.3e+18 12 1e+21 123456 1.234567e+06 0.0001 1e-05 1.5e-07 -2.5 100.25"),
        ("{{ toJson (list 1e21 1e20 0.000001 0.0000001 1e6 1.5) }}", "[1e+21,100000000000000000000,0.000001,1e-7,1000000,1.5]"),
        (#"{{ toYaml (dict "a" 1e6 "b" 1.5 "c" 0.00001 "d" 1e21) }}"#, "a: 1000000\nb: 1.5\nc: 1e-05\nd: 1e+21"),
        (#"{{ toYaml (dict "s" "multi\nline" "e" "" "n" nil "t" "true" "num" "123" "l" (list) "m" (dict)) }}"#,
         "e: \"\"\nl: []\nm: {}\n\"n\": null\nnum: \"123\"\ns: |-\n  multi\n  line\nt: \"true\""),
        (#"{{ toYaml (dict "b" (list 1 "two" true) "a" "x: y") }}"#, "a: 'x: y'\nb:\n- 1\n- two\n- true"),
        (#"{{ toYaml (list (dict "a" 1 "b" (list 1 2))) }}"#, "- a: 1\n  b:\n  - 1\n  - 2"),
        (#"{{ toJson (dict "s" "a<b" "f" 1.5 "i" 3) }}"#, #"{"f":1.5,"i":3,"s":"a\u003cb"}"#),
        ("{{ 1000000.0 }} {{ 1e6 | toString }} {{ toString 1e21 }} {{ 1.0 }}", "1e+06 1e+06 1e+21 1"),
        (#"{{ splitList "," "a,b" | toJson }} {{ split "," "a,b" | toJson }} {{ typeOf (list 1) }} {{ typeOf 1 }} {{ typeOf (int 1) }} {{ typeOf (len "x") }}"#,
         #"["a","b"] {"_0":"a","_1":"b"} []interface {} int int int"#),
        (#"{{ semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version }} {{ semverCompare "<1.25-0" .Capabilities.KubeVersion.Version }}"#, "true false"),
        (#"{{ toString nil }}|{{ print nil }}|{{ default "d" nil }}|{{ quote nil }}|{{ toString (list) }}|{{ printf "%v" nil }}"#, "<nil>|<nil>|d||[]|<nil>"),
        (#"{{ (fromYaml "a: [1, {b: c}]\nx: 'y'") | toJson }} {{ hasKey (fromYaml "- a") "Error" }} {{ fromYamlArray "- a\n- 1" | toJson }}"#,
         #"{"a":[1,{"b":"c"}],"x":"y"} true ["a",1]"#),
        (#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexFind "[0-9]+" "ab123cd45" }} {{ regexSplit "z+" "pizza" -1 | toJson }}"#,
         #"-W-xxW- 123 ["pi","a"]"#),
        (#"{{ upper "x" }} {{ title "hello world" }} {{ camelcase "foo_bar" }} {{ kebabcase "FooBar" }} {{ snakecase "FooBar" }} {{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ substr 1 3 "abcdef" }} {{ abbrev 5 "hello world" }}"#,
         "X Hello World FooBar foo-bar foo_bar abc ef bc he..."),
        (#"{{ merge (dict "a" 1 "n" (dict "x" 1)) (dict "a" 2 "b" 3 "n" (dict "x" 2 "y" 3)) | toJson }} {{ mergeOverwrite (dict "a" 1 "e" "z" "n" (dict "x" 1)) (dict "a" 2 "e" "" "n" (dict "x" 2 "y" 3)) | toJson }}"#,
         #"{"a":1,"b":3,"n":{"x":1,"y":3}} {"a":2,"e":"","n":{"x":2,"y":3}}"#),
        (#"{{ pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3) | toJson }} {{ dig "a" "b" "def" (dict "a" (dict "b" "v")) }} {{ keys (dict "b" 1 "a" 2) | sortAlpha | toJson }} {{ omit (dict "a" 1 "b" 2) "a" | toJson }} {{ pick (dict "a" 1 "b" 2) "a" | toJson }}"#,
         #"[1,3] v ["a","b"] {"b":2} {"a":1}"#),
        ("{{ until 3 | toJson }} {{ seq 3 | toJson }} {{ untilStep 0 10 3 | toJson }} {{ add 1 2.5 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 3 }} {{ sub 5 1 }} {{ max 1 5 3 }} {{ min 4 2 }} {{ addf 1 2.5 }} {{ mulf 1.5 2 }} {{ divf 1 4 }} {{ floor 1.7 }} {{ ceil 1.2 }} {{ round 1.2345 2 }} {{ add1 4 }}",
         #"[0,1,2] "1 2 3" [0,3,6,9] 3 6 3 1 4 5 2 3.5 3 0.25 1 2 1.23 5"#),
        (#"{{ atoi "42" }} {{ int "12abc" }} {{ float64 "1.5" }} {{ int 3.9 }} {{ int "3.9" }}"#, "42 0 1.5 3 0"),
        (#"{{ b64enc "hi" }} {{ b64dec "aGk=" }} {{ sha256sum "hi" }} {{ sha1sum "hi" }} {{ adler32sum "hi" }}"#,
         "aGk= hi 8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4 c22b5f9178342609428d6f51b2c5af4c0bde6a42 20644050"),
        (#"{{ has 1 (list 1 2) }} {{ without (list 1 2 3) 2 | toJson }} {{ uniq (list 1 1 2) | toJson }} {{ compact (list "" "a" nil 0) | toJson }} {{ reverse (list 1 2) | toJson }} {{ rest (list 1 2 3) | toJson }} {{ initial (list 1 2 3) | toJson }} {{ concat (list 1) (list 2 3) | toJson }} {{ append (list 1) 2 | toJson }} {{ prepend (list 1) 0 | toJson }} {{ slice (list 1 2 3) 1 | toJson }} {{ chunk 2 (list 1 2 3) | toJson }}"#,
         #"true [1,3] [1,2] ["a"] [2,1] [2,3] [1,2] [1,2,3] [1,2] [0,1] [2,3] [[1,2],[3]]"#),
        (#"{{ ternary "a" "b" true }} {{ coalesce "" nil "x" }} {{ empty (dict) }} {{ kindOf (dict) }} {{ kindOf nil }} {{ typeOf nil }} {{ typeIs "string" "x" }} {{ kindIs "slice" (list) }} {{ deepEqual (list 1) (list 1) }}"#,
         "a x true map invalid <nil> true true true"),
        (#"{{ contains "b" "abc" }} {{ repeat 3 "ab" }} {{ nospace "a b c" }} {{ replace " " "-" "a b" }} {{ wrap 5 "hello world here" }} {{ indent 2 "a\nb" }} {{ cat "a" nil "b" 3 }} {{ trimAll "-" "--a--" }} {{ quote 1 2 }} {{ squote "x" }} {{ plural "one" "many" 2 }} {{ initials "foo bar" }}"#,
         "true ababab abc a-b hello\nworld\nhere   a\n  b a b 3 a \"1\" \"2\" 'x' many fb"),
        (#"{{ toStrings (list 1 "a" nil) | toJson }} {{ join "," (list 1 "a" nil) }} {{ sortAlpha (list "b" "a" 1) | toJson }} {{ first (list) }}|{{ last (list 1 2) }}"#,
         #"["1","a"] 1,a ["1","a","b"] |2"#),
        (#"{{ get (dict "a" 1) "b" }}|{{ hasKey (dict "a" nil) "a" }} {{ unset (dict "a" 1 "b" 2) "a" | toJson }} {{ values (dict "a" 1 "b" 2) | sortAlpha | toJson }}"#,
         #"|true {"b":2} ["1","2"]"#),
        (#"{{ regexMatch "^[a-z]+$" "abc" }} {{ mustRegexSplit "," "a,b" -1 | toJson }} {{ regexReplaceAllLiteral "a" "banana" "$1" }} {{ regexFindAll "a." "banana" -1 | toJson }}"#,
         #"true ["a","b"] b$1n$1n$1 ["an","an"]"#),
        (#"{{ len (dict "a" 1) }} {{ index (list 1 (list 5 6)) 1 1 }} {{ index (dict "a" (dict "b" 7)) "a" "b" }}"#, "1 6 7"),
        (#"{{ urlquery "a b&c" }} {{ html "<a>" }} {{ js "it's" }} {{ println "a" 1 }} {{ print "a" 1 2 "b" "c" }} {{ printf "%s" (list 1 2) }} {{ printf "%v" (dict "a" (list 1)) }}"#,
         "a+b%26c &lt;a&gt; it\\'s a 1\n a1 2bc [%!s(int=1) %!s(int=2)] map[a:[1]]"),
        (#"{{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.KubeVersion.Minor }} {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }} {{ .Capabilities.HelmVersion.Version }} {{ lookup "v1" "Secret" "ns" "n" | toJson }}"#,
         "v1.36.0 36 true false v4.2 {}"),
        // YAML 1.1 as Helm reads it: the key `yes` is the key `true`, the value `yes` is true.
        (#"{{ kindOf .Values.x }} {{ typeOf .Values.m }} {{ typeOf (fromYaml "a: 1").a }} {{ .Values.big }} {{ .Values.yes }}|{{ .Values.y2 }}"#,
         "float64 map[string]interface {} float64 1e+06 |true"),
    ]

    @Test(arguments: helmPrinted.indices)
    func printsWhatHelmPrinted(_ index: Int) throws {
        let (template, helm) = Self.helmPrinted[index]
        let rendered = try renderInChart(template, values: "x: 1\nm: {a: 1}\nbig: 1000000\nyes: on\ny2: yes\n")
        #expect(rendered.unknownReason == nil, "\(rendered.unknownReason.map { "\($0)" } ?? "")")
        #expect(rendered.string == helm, "\(template)")
    }

    @Test func setChangesTheMapEveryHolderSees() throws {
        let out = try renderInChart(#"{{- $ctx := dict "a" 1 }}{{- $_ := set $ctx "b" 2 }}{{ toJson $ctx }} {{ $m := .Values.m }}{{ $_ := set $m "z" 9 }}{{ .Values.m.z }}"#,
                                    values: "m: {a: 1}\n")
        #expect(out.string == #"{"a":1,"b":2} 9"#)
    }

    /// `merge` changes its first argument (ingress-nginx renders `merge .Values.controller.image .Values.global.image`).
    @Test func mergeFillsTheDestinationInPlaceAndKeepsOrigins() throws {
        let values = "controller:\n  image: {image: ingress-nginx/controller, tag: v1}\nglobal:\n  image: {registry: registry.k8s.io}\n"
        let out = try renderInChart(#"{{- with (merge .Values.controller.image .Values.global.image) }}{{ .registry }}/{{ .image }}:{{ .tag }}{{ end }}|{{ .Values.controller.image.registry }}"#,
                                    values: values)
        #expect(out.string == "registry.k8s.io/ingress-nginx/controller:v1|registry.k8s.io")
        if case .value(let path)? = out.span(at: 0)?.origin.kind { #expect(path == "global.image.registry") } else { Issue.record("lost the origin") }
    }

    @Test func untakenBranchesDoNotChangeWhatTheValuesRender() throws {
        let (text, speculative) = try render(#"{{- $c := dict "x" "real" }}{{- if false }}{{ $_ := set $c "x" "changed" }}{{ end }}{{ $c.x }}"#)
        #expect(text.string == "real")
        #expect(speculative.count == 1)
    }

    /// traefik: `include "traefik.podTemplate" . | fromYaml | toYaml`.
    @Test func aYAMLRoundTripKeepsTheImagesOrigin() throws {
        let defines = """
            {{- define "pod" }}
            spec:
              containers:
              - name: app
                image: "{{ .Values.image }}"
            {{- end }}
            """
        let out = try render(#"{{ include "pod" . | fromYaml | toYaml }}"#, values: "image: docker.io/traefik:v3.5\n", defines: defines).text
        #expect(out.string == "spec:\n  containers:\n  - image: docker.io/traefik:v3.5\n    name: app")
        let at = try #require(out.string.range(of: "docker.io")).lowerBound.utf16Offset(in: out.string)
        if case .value(let path)? = out.span(at: at)?.origin.kind { #expect(path == "image") } else { Issue.record("lost the origin") }
    }

    /// cert-manager: `template "cert-manager.image" (tuple .Values.image .Values.imageRegistry …)`.
    @Test func tupleAndIndexPassValuesToAHelper() throws {
        let defines = #"{{- define "img" -}}{{- if ne (len .) 2 }}{{ fail "two" }}{{ end }}{{- $i := index . 0 -}}{{ index . 1 }}/{{ $i.name }}{{- end -}}"#
        let out = try render(#"image: {{ template "img" (tuple .Values.image .Values.registry) }}"#,
                             values: "registry: quay.io\nimage: {name: jetstack/cert-manager-controller}\n", defines: defines).text
        #expect(out.string == "image: quay.io/jetstack/cert-manager-controller")
        #expect(out.unknownReason == nil)
    }

    /// Bitnami's `common.tplvalues.render`: text of a value rendered with `tpl` keeps the value's origin.
    @Test func tplKeepsTheOriginsOfItsText() throws {
        let out = try render(#"{{ tpl .Values.image . }}"#, values: "registry: quay.io\nimage: \"{{ .Values.registry }}/org/app:1\"\n").text
        #expect(out.string == "quay.io/org/app:1")
        if case .value(let path)? = out.span(at: 0)?.origin.kind { #expect(path == "registry") } else { Issue.record("lost the origin") }
        if case .value(let path)? = out.span(at: 8)?.origin.kind { #expect(path == "image") } else { Issue.record("lost the origin") }
    }

    @Test func andAndOrStopAtTheFirstAnswer() throws {
        #expect(try render(#"{{ and .Values.missing (index .Values.missing 3) }}|{{ or "x" (fail "never") }}"#).text.string == "|x")
    }

    @Test(arguments: [
        (">=1.21-0", "v1.36.0", true), ("<1.25-0", "v1.36.0", false), (">=1.20.0-0", "1.20.0-gke.1", true), (">=1.20.0", "1.20.0-gke.1", false),
        ("^1.2.3", "1.9.0", true), ("^1.2.3", "2.0.0", false), ("^0.2.3", "0.2.9", true), ("^0.2.3", "0.3.0", false), ("~1.2.3", "1.2.9", true),
        ("~1.2.3", "1.3.0", false), ("1.2.x", "1.2.7", true), ("1.2.x", "1.3.0", false), ("*", "4.0.0", true), (">=1.0, <2.0", "1.5.0", true),
        (">=1.0 <2.0", "2.0.0", false), ("<1.0 || >=3.0", "3.1.0", true), ("1.2 - 1.4", "1.4.5", true), ("1.2 - 1.4.2", "1.4.5", false),
        ("!=1.2.3", "1.2.3", false), ("<v3.20.0-ea.1", "v3.5.0", true), (">3", "3.9.0", false), (">3", "4.0.0", true),
    ])
    func semverConstraintsReadAsHelmReadsThem(constraint: String, version: String, satisfied: Bool) throws {
        let out = try renderInChart("{{ semverCompare \(constraint.debugDescription) \(version.debugDescription) }}")
        #expect(out.string == String(satisfied))
    }
}

/// `template` rendered as a template of a chart: Helm's `.Capabilities`, `.Release` and `.Chart`.
func renderInChart(_ template: String, values: String = "{}") throws -> TracedText {
    let files = [
        SourceFile(path: "c/Chart.yaml", text: "apiVersion: v2\nname: c\nversion: 1.0.0\n", role: .chartMetadata, chart: "c"),
        SourceFile(path: "c/values.yaml", text: values, role: .values, chart: "c"),
        SourceFile(path: "c/templates/t.yaml", text: template, role: .template, chart: "c"),
    ]
    return try #require(ChartRenderer(files).render().first).text
}
