import Charts

/// The images a released chart deploys with its own values, as the in-cluster SDK is told them
/// (`releaseImages`): rendered as `helm template` would, deduplicated, in order of appearance.
/// Images the tooling cannot tell, and those only other values would deploy, are left out.
public enum ReleaseImages {
    public static func of(_ package: ChartPackage) -> [String] {
        guard let files = try? SourceLoader.chartPackage(package, name: package.name + ".tgz"),
              let images = try? ChartImageFinder.find(in: files) else { return [] }
        var seen: [String] = []
        for image in images where !image.speculative {
            guard let reference = image.reference?.description, !seen.contains(reference) else { continue }
            seen.append(reference)
        }
        return seen
    }
}
