/// One image as `images ls` shows it.
public struct ListedImage: Sendable, Equatable {
    public var file: String
    public var line: Int
    /// The reference, or `cannot tell`.
    public var image: String
    /// Where it sits and what it is made of.
    public var context: String
}

/// Every image in the inputs, the same set `images rewrite` and `chart lint` act on: images in
/// manifests and standalone values files by where they are written, images of charts by
/// following the templates to the values (or template text) that form them.
public enum ImageListing {
    public static func list(_ files: [SourceFile]) throws(ToolingError) -> [ListedImage] {
        var out: [ListedImage] = []
        for file in files {
            out += try ImageFinder.find(in: file).map {
                ListedImage(file: $0.file, line: $0.line, image: $0.reference.description, context: $0.context)
            }
        }
        for image in try ChartImageFinder.find(in: files) {
            let at = image.location
            var context = image.renderStopped ? "after \(image.field)" : "image: at \(image.field)"
            if !image.valuePaths.isEmpty { context += " from " + image.valuePaths.joined(separator: " + ") }
            if image.speculative { context += " (not rendered with the chart's values)" }
            if let problem = image.problem { context += ": cannot tell: \(problem)" }
            out.append(ListedImage(file: at.file, line: at.line, image: image.reference?.description ?? "cannot tell", context: context))
        }
        return out
    }
}
