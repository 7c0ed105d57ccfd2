import OCI
import Yams

/// An `image:` field a chart's templates render, followed back to where its text comes from.
public struct ChartImage: Sendable, Equatable {
    /// The chart (or subchart) whose template renders it.
    public var chart: String
    /// The template file whose render holds it.
    public var template: String = ""
    /// The `image:` field in the template (or helper) that renders it.
    public var field: TemplateLocation
    /// The rendered value, quotes removed, each character traced to its origin.
    public var value: TracedText
    /// The image, when the value is one.
    public var reference: ImageReference?
    /// Why the tooling cannot tell what image this is, when it cannot.
    public var problem: String?
    /// True when the chart's own values do not render this field (it sits behind an `if`,
    /// `with` or `else` they do not take), so it is deployed only with other values.
    public var speculative: Bool
    /// True for the entry that stands for a template whose render stopped for want of budget:
    /// `field` is where it stopped, and what the template renders after it was not read.
    public var renderStopped = false
    /// True when the image is a container argument (`--solver-image=…`) rather than an `image:` field.
    public var isArgument = false

    /// What a message names: the `image:` field, the argument, or the unread rest of a stopped render.
    public var fieldDescription: String {
        renderStopped ? "the rest of the template after \(field)" : isArgument ? "the image argument at \(field)" : "the image: field at \(field)"
    }

    /// Where to point a person: the values scalar that names the repository when the image
    /// comes from values, else the template field (or, for what cannot be told, the action).
    public var location: TemplateLocation {
        if problem != nil, let why = value.unknownReason {
            return TemplateLocation(file: why.file, line: why.line, column: 1)
        }
        if let reference, let span = value.span(at: reference.repositoryOffset), case .value = span.origin.kind {
            let at = span.origin.position(of: 0)
            return TemplateLocation(file: span.origin.file, line: at.line, column: at.column)
        }
        // A field written by `toYaml` has no place of its own: name where its text was written.
        if field.line == 0, let span = value.spans.first(where: { $0.origin.line > 0 }) {
            let at = span.origin.position(of: span.offsetInOrigin)
            return TemplateLocation(file: span.origin.file, line: at.line, column: at.column)
        }
        return field
    }

    /// The values that form the image, by path (`images.myapp.apiImageRepository`).
    public var valuePaths: [String] {
        var seen: [String] = []
        for span in value.spans {
            if case .value(let path) = span.origin.kind, !seen.contains(path) { seen.append(path) }
        }
        return seen
    }
}

extension ImageReference {
    /// Where the repository starts in the reference as written.
    var repositoryOffset: Int { registry.map { $0.count + 1 } ?? 0 }
}

/// Finds every image a chart deploys by rendering its templates, as Helm would with the
/// chart's values (subcharts with their values under the subchart's key and the parent's
/// `global`), and reading the `image:` fields of the result (and container arguments such as
/// `--solver-image=…`). What makes a value an image is that a template puts it into an image
/// field, whatever the value is called.
public enum ChartImageFinder {
    public static func find(in files: [SourceFile]) throws(ToolingError) -> [ChartImage] {
        find(in: try ChartRenderer(files).render())
    }

    static func find(in rendered: [RenderedTemplate]) -> [ChartImage] {
        var out: [ChartImage] = []
        for template in rendered {
            scan(template.text, chart: template.chart, template: template.path, speculative: template.optional, into: &out)
            for branch in template.speculative { scan(branch, chart: template.chart, template: template.path, speculative: true, into: &out) }
            if let stop = template.stoppedAt {
                // What the template renders after this point was not read: say so rather than list fewer images.
                out.append(ChartImage(chart: template.chart, template: template.path, field: stop, value: .unknown(TemplateEngine.budgetSpent, at: stop),
                                      reference: nil, problem: TemplateEngine.budgetSpent, speculative: false, renderStopped: true))
            }
        }
        // A field rendered several times with the same value (a range, a shared helper) is one
        // image; one the values render is not listed again as a branch they do not take.
        let rendered = Set(out.filter { !$0.speculative }.map { "\($0.field) \($0.value.string)" })
        var seen = Set<String>()
        return out.filter { !($0.speculative && rendered.contains("\($0.field) \($0.value.string)")) }
            .filter { seen.insert("\($0.field) \($0.value.string) \($0.speculative)").inserted }
            .sorted { ($0.location.file, $0.location.line, $0.field.line) < ($1.location.file, $1.location.line, $1.field.line) }
    }

    /// Reads the `image:` fields of rendered text, line by line.
    static func scan(_ text: TracedText, chart: String, template: String, speculative: Bool, into out: inout [ChartImage]) {
        let chars = text.characters
        var lineStart = 0
        var lines: [Range<Int>] = []
        for (i, c) in chars.enumerated() where c == "\n" || c == "\r\n" {
            lines.append(lineStart..<i)
            lineStart = i + 1
        }
        lines.append(lineStart..<chars.count)
        for (n, line) in lines.enumerated() {
            var i = line.lowerBound
            func skipSpaces() { while i < line.upperBound, chars[i] == " " || chars[i] == "\t" { i += 1 } }
            skipSpaces()
            while i < line.upperBound, chars[i] == "-", i + 1 < line.upperBound, chars[i + 1] == " " {
                i += 2
                skipSpaces()
            }
            let key = Array("image:")
            guard i + key.count <= line.upperBound, Array(chars[i..<(i + key.count)]) == key else {
                scanArgument(text, line: line, from: i, chart: chart, template: template, speculative: speculative, into: &out)
                continue
            }
            let keyAt = i
            i += key.count
            guard i == line.upperBound || chars[i] == " " || chars[i] == "\t" else { continue }
            var value = text.slice(i..<line.upperBound).trimming([" ", "\t"])
            if value.isEmpty {
                // `image:` opening a nested mapping is not an image reference.
                if n + 1 < lines.count, indentation(chars, lines[n + 1]) > indentation(chars, line) { continue }
            }
            if value.count >= 2, let first = value.characters.first, first == value.characters.last, first == "\"" || first == "'" {
                value = value.slice(1..<(value.count - 1))
            }
            let field = fieldLocation(text, at: keyAt, template: template)
            var image = ChartImage(chart: chart, template: template, field: field, value: value, reference: nil, problem: nil, speculative: speculative)
            if let why = value.unknownReason {
                image.problem = why.reason
            } else if let reference = ImageReference.parse(value.string) {
                image.reference = reference
            } else {
                image.problem = value.isEmpty ? "the image is empty with the chart's values" : "`\(value.string)` is not an image reference"
            }
            // Branches the values do not take are read for the images they would deploy, not judged.
            if speculative && image.reference == nil { continue }
            out.append(image)
        }
    }

    /// A container argument naming an image (`- --acme-http01-solver-image=quay.io/…:v1`): the
    /// program starts pods with it, so it is pulled like any other image of the chart.
    private static func scanArgument(_ text: TracedText, line: Range<Int>, from start: Int, chart: String, template: String, speculative: Bool,
                                     into out: inout [ChartImage]) {
        let chars = text.characters
        var i = start
        var quote: Character?
        if i < line.upperBound, chars[i] == "\"" || chars[i] == "'" { quote = chars[i]; i += 1 }
        guard i + 2 < line.upperBound, chars[i] == "-", chars[i + 1] == "-" else { return }
        let nameStart = i
        i += 2
        while i < line.upperBound, chars[i].isLetter || chars[i].isNumber || chars[i] == "-" || chars[i] == "_" { i += 1 }
        guard i < line.upperBound, chars[i] == "=", String(chars[nameStart..<i]).lowercased().hasSuffix("image") else { return }
        var end = line.upperBound
        while end > i + 1, chars[end - 1] == " " || chars[end - 1] == "\t" { end -= 1 }
        if let quote, end > i + 1, chars[end - 1] == quote { end -= 1 }
        let value = text.slice((i + 1)..<end)
        var image = ChartImage(chart: chart, template: template, field: fieldLocation(text, at: nameStart, template: template), value: value, reference: nil,
                               problem: nil, speculative: speculative)
        image.isArgument = true
        if let why = value.unknownReason {
            image.problem = why.reason
        } else if let reference = ImageReference.parse(value.string) {
            image.reference = reference
        } else {
            return
        }
        if speculative && image.reference == nil { return }
        out.append(image)
    }

    private static func indentation(_ chars: [Character], _ line: Range<Int>) -> Int {
        var n = 0
        while line.lowerBound + n < line.upperBound, chars[line.lowerBound + n] == " " { n += 1 }
        return n
    }

    private static func fieldLocation(_ text: TracedText, at offset: Int, template: String) -> TemplateLocation {
        if let span = text.span(at: offset), span.origin.isEditable || span.origin.line > 0 {
            let at = span.origin.position(of: span.offsetInOrigin + (offset - span.range.lowerBound))
            return TemplateLocation(file: span.origin.file, line: at.line, column: at.column)
        }
        return TemplateLocation(file: template, line: 0, column: 0)
    }
}

