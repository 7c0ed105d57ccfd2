import OCI

/// Images whose registry or repository a chart leaves empty in its values and fills in a
/// template (`.Values.image.registry | default "docker.io"`): such an image is rewritten by
/// setting those values, not by editing the chart's templates. Which empty value stands for
/// which part of the image is found by rendering with each candidate set, never by its name
/// alone.
enum ImageValueProbe {
    static let sentinel = "portcullis.invalid"

    /// Leaves of the values (the top chart's and its subcharts', under their keys) that are empty
    /// and named like a part of an image.
    static func candidates(_ renderer: ChartRenderer) -> [[String]] {
        var found: [[String]] = []
        func walk(_ value: TemplateValue, _ path: [String]) {
            guard case .map(let m) = value, path.count < 10 else { return }
            for key in m.sortedKeys {
                let child = m[key]!
                let lower = key.lowercased()
                switch child {
                case .map: walk(child, path + [key])
                case .null, .string where child.truth == false:
                    if ["registry", "repo", "image", "name"].contains(where: lower.contains) { found.append(path + [key]) }
                default: break
                }
            }
        }
        func chart(_ tree: ChartTree, _ prefix: [String]) {
            walk(tree.values, prefix)
            for sub in tree.subcharts { chart(sub, prefix + [tree.valuesKey(for: sub)]) }
        }
        for tree in renderer.charts { chart(tree, []) }
        return found
    }

    /// Values to set (path, text) so that `image` renders as `proxied`, checked by rendering
    /// with them; nil when no empty value reaches its registry and repository.
    static func assignments(for image: ChartImage, to proxied: ImageReference, renderer: ChartRenderer,
                            candidates: [[String]]) -> [(path: [String], value: String)]? {
        guard let reference = image.reference else { return nil }
        let original = Array(image.value.string)
        let registryEnd = reference.registry?.count ?? 0
        let repositoryStart = reference.repositoryOffset
        let repositoryEnd = repositoryStart + reference.repository.count
        guard repositoryEnd <= original.count else { return nil }
        let sentinel = Array(Self.sentinel)
        var registryPath: [String]?, repositoryPath: [String]?, namePath: [String]?
        for path in candidates {
            for probed in values(of: image, renderer: renderer, with: [(path, Self.sentinel)]) {
                let p = Array(probed)
                if reference.registry != nil, p == sentinel + original[registryEnd...] {
                    registryPath = registryPath ?? path
                } else if p == Array(original[..<repositoryStart]) + sentinel + original[repositoryEnd...] {
                    repositoryPath = repositoryPath ?? path
                } else if p == sentinel + original[repositoryEnd...] {
                    namePath = namePath ?? path
                }
            }
        }
        var out: [(path: [String], value: String)] = []
        if let namePath {
            out = [(namePath, (proxied.registry.map { $0 + "/" } ?? "") + proxied.repository)]
        } else if let repositoryPath, registryPath != nil || reference.registry == nil {
            if let registryPath { out.append((registryPath, proxied.registry ?? "")) }
            out.append((repositoryPath, reference.registry == nil ? (proxied.registry.map { $0 + "/" } ?? "") + proxied.repository : proxied.repository))
        } else {
            return nil
        }
        // The values must render exactly the proxied image, tag and digest unchanged.
        let rendered = values(of: image, renderer: renderer, with: out)
        return rendered.contains(where: { ImageReference.parse($0)?.description == proxied.description }) ? out : nil
    }

    /// The values the image's template renders in image fields with `settings` set.
    private static func values(of image: ChartImage, renderer: ChartRenderer, with settings: [(path: [String], value: String)]) -> [String] {
        var overrides = TemplateValue.null
        for (path, value) in settings {
            overrides = TemplateValue.merged(overrides, PullSecretPlanner.setting(path, to: .text(value)))
        }
        let rendered = renderer.render(overrides: overrides, speculate: image.speculative, only: [image.template])
        return ChartImageFinder.find(in: rendered).compactMap { $0.reference == nil ? nil : $0.value.string }
    }
}
