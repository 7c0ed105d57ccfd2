import OCI

/// A text change in one file: `old` at `line`:`column` becomes `new`. Exact edits are made at
/// that column; the others replace a whole scalar, found from its column onward.
struct FileEdit: Hashable, Sendable {
    var file: String
    var line: Int
    var column: Int
    var old: String
    var new: String
    var exact: Bool
}

extension ImageRewriter {
    /// The edits that make a chart render `image` as `proxied`: in the values, or the template
    /// literals, that its registry and repository come from. The tag and digest, and anything
    /// computed, are left alone; an image whose name cannot be traced to editable text is an
    /// error that says where, never a silent skip.
    /// Without `allowTemplateText`, only values may be edited (a template's own text is edited
    /// only when no value can make the image).
    static func edits(for image: ChartImage, to proxied: ImageReference, allowTemplateText: Bool = true) throws(ToolingError) -> [FileEdit] {
        guard let reference = image.reference else { return [] }
        let value = image.value
        let repoStart = reference.repositoryOffset
        // The repositories share an ending; what comes before it changes: the proxy path puts
        // `proxy/<app>/<upstream>/` (plus `library/` for Docker Hub's official images) in front,
        // an air-gapped registry swaps `proxy/<app>/<upstream>` for its own prefix.
        let old = Array(reference.repository), new = Array(proxied.repository)
        var shared = 0
        while shared < min(old.count, new.count), old[old.count - 1 - shared] == new[new.count - 1 - shared] { shared += 1 }
        let replaced = old.count - shared
        let prefix = String(new.dropLast(shared))
        var rendered: [(range: Range<Int>, text: String)] = []
        if let registry = reference.registry {
            rendered.append((0..<registry.count, proxied.registry ?? ""))
            rendered.append((repoStart..<repoStart + replaced, prefix))
        } else {
            rendered.append((0..<replaced, (proxied.registry ?? "") + "/" + prefix))
        }
        func fail(_ why: String) -> ToolingError {
            ToolingError(file: image.location.file, line: image.location.line, message: "cannot rewrite \(reference): \(why); edit it by hand")
        }
        // Rendered edits land in the origins the characters came from.
        var byOrigin: [(origin: TextOrigin, edits: [(offset: Int, length: Int, text: String)])] = []
        for edit in rendered {
            let span: TextSpan?
            if edit.range.isEmpty {
                span = value.span(at: edit.range.lowerBound)
            } else {
                let covering = value.spans(covering: edit.range)
                span = covering?.count == 1 ? covering?.first : nil
            }
            guard let span else { throw fail("its name is put together from several places") }
            guard span.origin.isEditable else { throw fail("its name comes from \(Self.describe(span.origin))") }
            if !allowTemplateText, case .template = span.origin.kind { throw fail("its name is written in the template") }
            guard !span.origin.file.contains("!") else {
                throw fail("its name is set in a packaged chart (\(span.origin.file)); unpack it first")
            }
            let offset = span.offsetInOrigin + (edit.range.lowerBound - span.range.lowerBound)
            let entry = (offset, edit.range.count, edit.text)
            if let i = byOrigin.firstIndex(where: { $0.origin == span.origin }) {
                byOrigin[i].edits.append(entry)
            } else {
                byOrigin.append((span.origin, [entry]))
            }
        }
        var out: [FileEdit] = []
        for (origin, edits) in byOrigin {
            switch origin.kind {
            case .value:
                guard !origin.text.contains("\n") else { throw fail("its value spans several lines") }
                var text = Array(origin.text)
                for e in edits.sorted(by: { $0.offset > $1.offset }) {
                    text.replaceSubrange(e.offset..<(e.offset + e.length), with: Array(e.text))
                }
                out.append(FileEdit(file: origin.file, line: origin.line, column: origin.column, old: origin.text, new: String(text), exact: false))
            case .template:
                let chars = Array(origin.text)
                for e in edits {
                    let at = origin.position(of: e.offset)
                    out.append(FileEdit(file: origin.file, line: at.line, column: at.column,
                                        old: String(chars[e.offset..<(e.offset + e.length)]), new: e.text, exact: true))
                }
            case .computed, .unknown:
                throw fail("its name is computed")
            }
        }
        return out
    }

    static func describe(_ origin: TextOrigin) -> String {
        switch origin.kind {
        case .computed(let what): what
        case .unknown(let why): why
        case .value(let path): "the value \(path)"
        case .template: "the template text"
        }
    }
}
