import Foundation
import PortcullisAPI

/// A release as this instance ran it (`/api/v1/app/info`'s `currentRelease`, `/app/history`).
public struct RunningRelease: Codable, Sendable, Equatable {
    public var versionLabel: String
    public var releaseSequence: Int
    public var channelID: String
    public var channelName: String
    public var channelSequence: Int
    public var createdAt: Date?
    public var releaseNotes: String
    public var deployedAt: Date
}

/// What the SDK keeps across restarts, in its state directory: the instance's identity, the
/// last license Portcullis gave, the metrics and tags the application set, and the releases it
/// has run. Files are replaced whole (write, then rename), so a crash leaves the old or the new.
public actor SDKState {
    let directory: URL
    public private(set) var instanceID: String
    public private(set) var clusterID: String
    public private(set) var license: SDKLicenseBody?
    public private(set) var metrics: [String: JSONScalar]
    public private(set) var tags: [String: String]
    public private(set) var history: [RunningRelease]

    public struct Unusable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(directory: String, pinnedInstanceID: String?) throws {
        let folder = URL(fileURLWithPath: directory)
        self.directory = folder
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Unusable(description: "the state directory \(directory) cannot be created (a file in the way, or no permission)")
        }
        func text(_ name: String) -> String? {
            (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        }
        func json<T: Decodable>(_ name: String, as type: T.Type) -> T? {
            (try? Data(contentsOf: folder.appendingPathComponent(name))).flatMap { try? APICoding.decoder.decode(T.self, from: $0) }
        }
        // What a check-in would refuse is not taken from the files (edited, or from an older
        // SDK): an instance ID that is not one is made anew, metrics and tags no check-in could
        // carry are left out, so check-ins are not refused from then on.
        let storedID = text("instance-id").flatMap { InstanceReportRules.problem(name: $0, what: "instanceID") == nil ? $0 : nil }
        instanceID = pinnedInstanceID ?? storedID ?? Self.newID()
        clusterID = text("cluster-id").flatMap { InstanceReportRules.problem(label: $0, what: "clusterID") == nil ? $0 : nil } ?? Self.newID()
        license = json("license.json", as: SDKLicenseBody.self)
        metrics = Self.reportable(json("metrics.json", as: [String: JSONScalar].self) ?? [:]) { name, value in
            InstanceReportRules.problem(metrics: [name: value]) == nil
        }
        tags = Self.reportable(json("tags.json", as: [String: String].self) ?? [:]) { name, value in
            InstanceReportRules.problem(tags: [name: value]) == nil
        }
        history = json("history.json", as: [RunningRelease].self) ?? []
        do {
            try Self.write(Data(instanceID.utf8), to: folder.appendingPathComponent("instance-id"))
            try Self.write(Data(clusterID.utf8), to: folder.appendingPathComponent("cluster-id"))
        } catch {
            // The SDK keeps what it must not lose (its instance ID, the last license) here: a
            // directory it cannot write is a reason not to start, said as one.
            throw Unusable(description: "the state directory \(directory) is not writable by this process (uid \(getuid())); "
                           + "mount a writable volume there (the subchart uses an emptyDir)")
        }
    }

    /// The entries a check-in may carry, at most as many as it may carry (by name, so the same
    /// ones are kept each time).
    static func reportable<Value>(_ stored: [String: Value], _ isValid: (String, Value) -> Bool) -> [String: Value] {
        let valid = stored.filter { isValid($0.key, $0.value) }.sorted { $0.key < $1.key }.prefix(InstanceReportRules.mostEntries)
        return Dictionary(uniqueKeysWithValues: valid.map { ($0.key, $0.value) })
    }

    public func keep(license body: SDKLicenseBody) throws {
        license = body
        try save(body, as: "license.json")
    }

    public func replaceMetrics(_ new: [String: JSONScalar]) throws {
        metrics = new
        try save(metrics, as: "metrics.json")
    }

    /// Refused (nothing kept) when the metrics set before and these together are more than a
    /// check-in may carry: every later check-in would be refused.
    public func mergeMetrics(_ new: [String: JSONScalar]) throws {
        let merged = metrics.merging(new) { $1 }
        if let problem = InstanceReportRules.problem(metrics: merged) {
            throw SDKError(status: .badRequest, message: problem + " with those already set (remove some first)")
        }
        metrics = merged
        try save(metrics, as: "metrics.json")
    }

    /// False when there was no such metric.
    public func removeMetric(_ key: String) throws -> Bool {
        guard metrics.removeValue(forKey: key) != nil else { return false }
        try save(metrics, as: "metrics.json")
        return true
    }

    /// Tags given win over those set before only when `force`; an empty value removes a tag.
    public func setTags(_ new: [String: String], force: Bool) throws {
        var merged = tags
        for (key, value) in new {
            if value.isEmpty { merged[key] = nil } else if force || merged[key] == nil { merged[key] = value }
        }
        if let problem = InstanceReportRules.problem(tags: merged) {
            throw SDKError(status: .badRequest, message: problem + " with those already set (remove some first)")
        }
        tags = merged
        try save(tags, as: "tags.json")
    }

    /// Records the release running now (once per release); returns it with when it was first seen running.
    public func running(_ release: RunningRelease) throws -> RunningRelease {
        if let last = history.first, last.releaseSequence == release.releaseSequence, last.versionLabel == release.versionLabel {
            return last
        }
        history.insert(release, at: 0)
        try save(history, as: "history.json")
        return release
    }

    private func save(_ value: some Encodable, as name: String) throws {
        try Self.write(try APICoding.encoder.encode(value), to: directory.appendingPathComponent(name))
    }

    static func write(_ data: Data, to url: URL) throws {
        try data.write(to: url, options: .atomic)
    }

    /// A random ID: 27 characters of letters and digits, like the commercial SDK's.
    static func newID() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        return String((0..<27).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
