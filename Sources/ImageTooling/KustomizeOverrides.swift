import OCI
import Yams
import YAMLSafety

/// Kustomizations among the files a rewrite reads, and what editing the manifests under them
/// would break. Kustomize's `images:` entries match an image by its name as the manifests write
/// it: a base whose `nginx:1.25` became a proxy path leaves an overlay's `- name: nginx` entry
/// matching nothing, and the overlay then deploys the base's image, not the one it pinned (its
/// `newName`, `newTag` or `digest` silently dropped). Such a rewrite is refused, saying where.
public enum KustomizeOverrides {
    public static let fileNames: Set<String> = ["kustomization.yaml", "kustomization.yml", "Kustomization"]

    public static func isKustomization(_ path: String) -> Bool {
        fileNames.contains(String(path.split(separator: "/").last ?? ""))
    }

    /// One `images:` entry: the name it matches, and where it is written.
    public struct Entry: Equatable, Sendable {
        public var file: String
        public var line: Int
        public var name: String
    }

    public static func entries(in files: [SourceFile]) -> [Entry] {
        var out: [Entry] = []
        // A chart's own files (a kustomization it ships as data) are not overlays of what is rewritten.
        for file in files where file.role == .manifests && isKustomization(file.path) {
            guard let root = try? YAMLBudget.compose(file.text)?.mapping, let images = root["images"]?.sequence else { continue }
            for item in images {
                guard let name = item.mapping?["name"], let text = name.string, !text.isEmpty else { continue }
                out.append(Entry(file: file.path, line: name.mark?.line ?? 0, name: text))
            }
        }
        return out
    }

    /// Why the changes would break an override, one line each; empty when none would.
    public static func conflicts(_ changes: [ImageChange], with entries: [Entry]) -> [String] {
        var out: [String] = []
        for entry in entries {
            guard let change = changes.first(where: { matches(entry.name, $0.from) }) else { continue }
            out.append("\(entry.file):\(entry.line): images: overrides \(entry.name) by name, and the rewrite would change it at "
                       + "\(change.file):\(change.line) (\(change.from) -> \(change.to)): this entry would match nothing and the "
                       + "overlay would deploy another image. Rewrite the manifests without their kustomizations, then set this entry's "
                       + "name to the new name and its newName to the proxy path of the image it pins")
        }
        return out
    }

    /// Whether a kustomize `name` picks out `reference` (as written in a manifest): the same name,
    /// as written or once Docker Hub's spellings are folded.
    static func matches(_ name: String, _ reference: String) -> Bool {
        guard let parsed = ImageReference.parse(reference), let other = ImageReference.parse(name) else { return false }
        return parsed.name == other.name
            || (parsed.canonicalRegistry == other.canonicalRegistry && parsed.upstreamRepository == other.upstreamRepository)
    }
}
