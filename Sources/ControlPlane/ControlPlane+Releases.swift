import Charts
import Hosting
import ImageTooling
import OCI
import Storage

extension ControlPlane {
    public func channels(appSlug: String) async throws -> [ChannelRecord] {
        try await catalog.channels(appID: try await app(slug: appSlug).id)
    }

    public func createChannel(appSlug: String, name: String) async throws -> ChannelRecord {
        let app = try await app(slug: appSlug)
        return try await normalized { try await catalog.createChannel(appID: app.id, name: name) }
    }

    /// Stores a release of chart archives. With `lintFor`, charts whose images would bypass
    /// the proxy on that host are refused first.
    public func createRelease(appSlug: String, archives: [[UInt8]], version: String, notes: String?, promoteTo: String?,
                              lintFor proxyHost: String?, acceptUnknown: [String] = []) async throws -> ReleaseSummary {
        let app = try await app(slug: appSlug)
        var warnings: [String] = []
        if let proxyHost {
            var findings: [LintFinding] = []
            for (i, archive) in archives.enumerated() {
                // Findings name the archive as `helm package` names it: <chart>-<version>.tgz!<file>:<line>.
                let name = (try? ChartPackage.parse(archive: archive)).map { "\($0.name)-\($0.version).tgz" } ?? "chart \(i + 1)"
                findings += try await lint(archive, name: name, app: app.slug, proxyHost: proxyHost, acceptUnknown: acceptUnknown)
            }
            let errors = findings.filter { $0.severity == .error }
            if !errors.isEmpty {
                // One finding a line, each with its file and line.
                throw ControlPlaneError.invalid("chart lint failed:\n" + errors.map(\.description).joined(separator: "\n"))
            }
            warnings += findings.map { "\($0.place): \($0.message)" }
        }
        // Said, not refused: re-releasing a chart version is sometimes meant (a fix to the chart's
        // files), but a tag then means whichever release was promoted last.
        let earlier = try await catalog.summaries(appID: app.id)
        for archive in archives {
            guard let chart = try? ChartPackage.parse(archive: archive) else { continue }
            if let previous = earlier.first(where: { $0.charts.contains { $0.name == chart.name && $0.version == chart.version } }) {
                warnings.append("chart \(chart.name) \(chart.version) was already released in release \(previous.release.sequence); "
                                + "customers get whichever of the two was promoted to their channel last (bump the chart's version to tell them apart)")
            }
        }
        let sequence = try await normalized {
            try await catalog.createRelease(appID: app.id, archives: archives, version: version, notes: notes, promoteTo: promoteTo)
        }
        logger.info("release created", metadata: ["app": "\(app.slug)", "sequence": "\(sequence)"])
        if let promoteTo {
            webhooks?.emit(.releasePromoted, ["app": app.slug, "sequence": String(sequence), "channel": promoteTo, "version": version])
        }
        var summary = try await release(appID: app.id, sequence: sequence)
        summary.warnings = warnings
        // Every chart was parsed (and linted) whole.
        FreedMemory.returnToSystem()
        return summary
    }

    public func releases(appSlug: String) async throws -> [ReleaseSummary] {
        try await catalog.summaries(appID: try await app(slug: appSlug).id)
    }

    public func promote(appSlug: String, sequence: Int, channel: String, version: String, notes: String?) async throws -> ReleaseSummary {
        let app = try await app(slug: appSlug)
        try await normalized { try await catalog.promote(appID: app.id, sequence: sequence, channel: channel, version: version, notes: notes) }
        webhooks?.emit(.releasePromoted, ["app": app.slug, "sequence": String(sequence), "channel": channel, "version": version])
        return try await release(appID: app.id, sequence: sequence)
    }

    private func release(appID: String, sequence: Int) async throws -> ReleaseSummary {
        guard let summary = try await catalog.summaries(appID: appID).first(where: { $0.release.sequence == sequence }) else {
            throw ControlPlaneError.notFound("release \(sequence) not found")
        }
        return summary
    }

    // MARK: Image tooling

    /// The chart's lint findings, and for each image it pulls through the proxy that no registry
    /// of the app would serve, a warning in the words the customer's pull would get: a warning,
    /// because the chart is right and the app's registries can be added after the release.
    public func lint(_ archive: [UInt8], name: String, app: String, proxyHost: String, acceptUnknown: [String] = []) async throws -> [LintFinding] {
        var (findings, proxied): ([LintFinding], [ChartLinter.ProxiedImage])
        do {
            (findings, proxied) = try ChartLinter.lintFindingProxied(try SourceLoader.chartArchive(bytes: archive, name: name), app: app,
                                                                     proxyHost: proxyHost, acceptUnknown: Set(acceptUnknown))
        } catch {
            throw ControlPlaneError.invalid(error.description)
        }
        guard let proxyPaths else { return findings }
        let appRecord = try await self.app(slug: app)
        var refusals: [String: String] = [:], served: Set<String> = []
        for image in proxied where image.reference.repository.hasPrefix(ProxyName.prefix + "/") {
            let path = image.reference.repository
            if refusals[path] == nil, !served.contains(path) {
                guard let name = try? RepositoryName(parsing: path) else { continue }
                if let refusal = try await proxyPaths.proxyPathRefusal(name, app: appRecord) { refusals[path] = refusal } else { served.insert(path) }
            }
            guard let refusal = refusals[path] else { continue }
            findings.append(LintFinding(file: image.file, line: image.line, severity: .warning,
                                        message: "image \(image.reference) would not pull: \(refusal) (`portcullis registry add` connects one)"))
        }
        return findings
    }

    public func findImages(yaml: String, values: Bool, name: String) throws -> [ImageOccurrence] {
        do {
            return try ImageFinder.find(in: SourceFile(path: name, text: yaml, role: values ? .values : .manifests))
        } catch {
            throw ControlPlaneError.invalid(error.description)
        }
    }
}
