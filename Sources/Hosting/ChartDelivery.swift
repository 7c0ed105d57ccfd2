import Charts
import Foundation
import Licensing
import NIOCore
import OCI
import RegistryCore
import Storage

/// Delivers the Helm OCI artifact a recipient pulls. Customers get the chart with
/// `global.replicated` injected into `values.yaml`; vendors get the archive as released.
///
/// A recipient's artifact is built once per recipe — the chart, the repository it is pulled
/// through, and the values injected — and kept: the recipe's key names the built manifest in
/// the shared store, so a pull is a lookup (in memory when warm, one row otherwise), on every
/// replica. It is built again only when what is injected changes (license fields, channel,
/// hosts, expiry), which makes a new key. Builds are deterministic, so the same recipe always
/// gives the same digests; that is what lets `gc` forget customers' artifacts nobody pulls
/// (`DeliveredChartCollector`): the next pull builds the same bytes again.
public struct ChartDelivery: Sendable {
    public static let configMediaType = "application/vnd.cncf.helm.config.v1+json"
    public static let layerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

    /// Who a delivered artifact is visible to: known from the caller alone, without building anything.
    public enum Audience: Sendable, Hashable {
        case vendor
        case customer(id: String)

        func visibility(_ repository: String) -> BlobVisibility {
            switch self {
            case .vendor: .chart(.vendor, repository: repository)
            case .customer(let id): .chart(.customer(id: id), repository: repository)
            }
        }
    }

    /// The subchart whose values a customer's pull fills in for the in-cluster SDK.
    public static let sdkSubchart = "portcullis-sdk"

    /// What a customer's chart tells the in-cluster SDK beside `global.replicated`.
    public struct SDKFacts: Sendable {
        /// The signed license document, as `customer download-license` writes it.
        public var licenseDocument: String
        public var publicKeyPEM: String
        public var appName: String
        /// `scheme://host` as the customer reached Portcullis: where the SDK reports.
        public var endpoint: String
        public var host: String

        public init(licenseDocument: String, publicKeyPEM: String, appName: String, endpoint: String, host: String) {
            self.licenseDocument = licenseDocument
            self.publicKeyPEM = publicKeyPEM
            self.appName = appName
            self.endpoint = endpoint
            self.host = host
        }
    }

    public enum Recipient: Sendable {
        case vendor
        /// `pullSecret` is the base64 dockerconfigjson for this customer and host.
        case customer(License, licenseID: String, pullSecret: String, channelName: String, licenseFields: [SignedLicenseField],
                      sdk: SDKFacts? = nil)

        public var audience: Audience {
            switch self {
            case .vendor: .vendor
            case .customer(let license, _, _, _, _, _): .customer(id: license.customerID)
            }
        }

        /// What is injected for this recipient; nil when the chart goes out as released.
        var injected: [(String, ValuesInjection.Value)]? {
            switch self {
            case .vendor: nil
            case .customer(let license, let licenseID, let pullSecret, let channelName, let fields, _):
                ChartDelivery.replicatedValues(license: license, licenseID: licenseID, pullSecret: pullSecret, channelName: channelName,
                                               licenseFields: fields)
            }
        }

        /// What the SDK subchart gets, for a chart with it: the keys of the commercial SDK's values
        /// where it has one (`replicatedAppEndpoint` beside our `portcullisEndpoint`).
        func sdkValues(placement: ReleasePlacement?, repository: String) -> [(String, ValuesInjection.Value)]? {
            guard case .customer(let license, _, _, let channelName, let fields, let sdk?) = self else { return nil }
            var pairs: [(String, ValuesInjection.Value)] = [
                ("license", .string(sdk.licenseDocument)),
                ("licenseFields", .map(fields.map { ($0.definition.name, ChartDelivery.fieldObject($0)) })),
                ("publicKey", .string(sdk.publicKeyPEM)),
                ("appName", .string(sdk.appName)),
                ("appSlug", .string(license.appSlug)),
                ("channelName", .string(placement?.channelName ?? channelName)),
            ]
            if let placement {
                pairs += [
                    ("channelID", .string(placement.channelID)),
                    ("channelSequence", .integer(placement.channelSequence)),
                    ("releaseSequence", .integer(placement.releaseSequence)),
                    ("versionLabel", .string(placement.versionLabel)),
                    // A format style, not a formatter made per call: this runs for every manifest GET.
                    ("releaseCreatedAt", .string(placement.createdAt.formatted(Date.ISO8601FormatStyle()))),
                    ("releaseNotes", .string(placement.releaseNotes)),
                ]
            }
            pairs += [
                ("parentChartURL", .string("oci://\(sdk.host)/\(repository)")),
                ("imageRegistry", .string(sdk.host)),
                ("portcullisEndpoint", .string(sdk.endpoint)),
                ("replicatedAppEndpoint", .string(sdk.endpoint)),
            ]
            return pairs
        }

        /// The recipe's key: the chart, the repository, and every injected value, hashed. Equal
        /// keys build equal bytes; any change to what is injected makes another key.
        func recipeKey(chart: Digest, repository: String, placement: ReleasePlacement?) -> String {
            var text = "chart-delivery/v1\n\(chart)\n\(repository)\n"
            switch self {
            case .vendor: text += "vendor"
            case .customer(let license, _, _, _, _, _):
                text += "customer \(license.customerID)\n" + ValuesInjection.Value.map(injected ?? []).json
                if let sdk = sdkValues(placement: placement, repository: repository) { text += "\nsdk " + ValuesInjection.Value.map(sdk).json }
            }
            return Digest.of(text.utf8).hex
        }
    }

    let blobs: any BlobStore
    let index: any ProxyIndex
    let visibility: any BlobVisibilityIndex
    let built: (any DeliveredChartStore)?
    let memory: DeliveredChartMemory
    let leases: (any FillLeaseStore)?
    let releaseImages: (@Sendable (ChartPackage) -> [String])?
    let clock: @Sendable () -> Date

    /// How long a recipe remembered in memory is served without telling the store it is in use.
    /// `gc` forgets only recipes unused for far longer (`DeliveredChartCollector.minimumIdle`),
    /// so a remembered recipe is never one it has forgotten.
    public static let reconfirmAfter: TimeInterval = 300

    /// `built` keeps recipes → manifests in the shared store; `leases` lets the first replica to
    /// need a recipe build it while the others wait for its result, and keeps `gc` from
    /// forgetting a recipe while it is being built. `releaseImages` names a chart's images for
    /// the SDK subchart (`releaseImages`).
    public init(blobs: any BlobStore, index: any ProxyIndex, visibility: any BlobVisibilityIndex, built: (any DeliveredChartStore)? = nil,
                leases: (any FillLeaseStore)? = nil, releaseImages: (@Sendable (ChartPackage) -> [String])? = nil,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.releaseImages = releaseImages
        self.clock = clock
        self.blobs = blobs
        self.index = index
        self.visibility = visibility
        self.built = built
        self.leases = leases
        memory = DeliveredChartMemory()
    }

    /// The recipient's manifest for a chart, built at most once per recipe.
    public func artifact(_ chart: ReleaseChartRecord, repository: String, for recipient: Recipient, placement: ReleasePlacement? = nil) async throws
        -> (ManifestRecord, ByteBuffer) {
        let key = recipient.recipeKey(chart: chart.digest, repository: repository, placement: placement)
        let now = clock()
        let fresh = built == nil ? Date.distantPast : now.addingTimeInterval(-Self.reconfirmAfter)
        if let hit = await memory.artifact(key, confirmedSince: fresh) { return hit }
        return try await memory.once(key) {
            if let kept = try await kept(key, at: now) { return kept }
            let artifact = try await buildOnce(key, at: now) {
                try await build(chart, repository: repository, for: recipient, placement: placement, key: key, at: now)
            }
            // The chart was parsed and its values rewritten, all of it freed by now.
            FreedMemory.returnToSystem()
            return artifact
        } remember: { record, bytes in
            await memory.remember(key, record, bytes, confirmedAt: now)
            // Read back from the store: its manifest is visible there (it was made so before the recipe was recorded).
            await memory.remember(visible: [record.digest], in: recipient.audience.visibility(repository))
        }
    }

    /// A recipe built before (by this replica or another), marked in use: its manifest, when its
    /// bytes and its layer's are still there (otherwise it is built again, which puts them back).
    private func kept(_ key: String, at now: Date) async throws -> (ManifestRecord, ByteBuffer)? {
        guard let built, let (digest, _) = try await built.useDeliveredChart(key: key, at: now),
              let record = try await index.manifest(digest), let bytes = try await blobs.readAll(digest, limit: 1 << 20),
              let summary = try? ManifestSummary(parsing: bytes.readableBytesView, contentType: nil) else { return nil }
        for layer in summary.layers where try await blobs.size(of: layer.digest) == nil { return nil }
        return (record, bytes)
    }

    /// Marks the recipe whose manifest a pull by digest read as used, so `gc` does not forget a
    /// chart clients pin by digest; at most once per `reconfirmAfter` per replica.
    func markUsed(_ manifest: Digest, repository: String, audience: Audience) async {
        guard let built, case .customer = audience else { return }
        let place = audience.visibility(repository), now = clock()
        guard await memory.shouldMark(manifest, in: place, now: now, every: Self.reconfirmAfter) else { return }
        try? await built.touchDeliveredChart(digest: manifest, in: place, at: now)
    }

    /// Across replicas the first to need a recipe builds it under a lease; the others wait for the
    /// result and read it. A lease nobody can grant (the database away) is no reason not to build.
    private func buildOnce(_ key: String, at now: Date, _ build: () async throws -> (ManifestRecord, ByteBuffer)) async throws
        -> (ManifestRecord, ByteBuffer) {
        try await holding(Self.buildLease(key), for: 30, polling: .milliseconds(100), meanwhile: { try await kept(key, at: now) }) {
            if let kept = try await kept(key, at: now) { return kept }
            return try await build()
        }
    }

    /// The lease a recipe is built under, and `gc` forgets it under.
    static func buildLease(_ key: String) -> Digest {
        Digest.of(Array("chart-delivery:\(key)".utf8))
    }

    /// The lease an artifact's blobs and records are written under, and `gc` removes them under:
    /// two recipes can build the same bytes (what differs between them is not in this chart),
    /// and one recipe's build lease says nothing about the other's.
    static func artifactLease(_ manifest: Digest) -> Digest {
        Digest.of(Array("chart-artifact:\(manifest)".utf8))
    }

    /// Runs `work` holding `lease` (taken for `lifetime` seconds), waiting up to 30 s for it and
    /// asking `meanwhile` between tries, whose answer ends the wait; a lease nobody can grant (the
    /// database away) or never let go is no reason not to work.
    private func holding<T>(_ lease: Digest, for lifetime: TimeInterval, polling interval: Duration,
                            meanwhile: () async throws -> T? = { nil }, _ work: () async throws -> T) async throws -> T {
        guard let leases else { return try await work() }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let now = Date()
            if (try? await leases.acquireFillLease(lease, holder: DeliveredChartMemory.holder, until: now.addingTimeInterval(lifetime),
                                                   now: now)) ?? true {
                return try await releasing(lease, work)
            }
            try await Task.sleep(for: interval)
            if let done = try await meanwhile() { return done }
        }
        return try await work()
    }

    /// Runs `body`, then lets go of `lease` (taken by this process), before returning or throwing:
    /// whoever waits for it, or `gc`, finds it free as soon as the work is done.
    private func releasing<T>(_ lease: Digest, _ body: () async throws -> T) async throws -> T {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        try? await leases?.releaseFillLease(lease, holder: DeliveredChartMemory.holder)
        return try result.get()
    }

    /// Builds the recipient's artifact, stores its blobs, links them for the recipient, and
    /// records the recipe.
    private func build(_ chart: ReleaseChartRecord, repository: String, for recipient: Recipient, placement: ReleasePlacement?, key: String,
                       at now: Date) async throws -> (ManifestRecord, ByteBuffer) {
        guard let original = try await blobs.readAll(chart.digest, limit: ChartPackage.maxArchiveSize) else {
            throw RegistryError(.manifestUnknown, "chart archive missing from storage")
        }
        let originalBytes = Array(original.readableBytesView)
        let package = try ChartPackage.parse(archive: originalBytes)
        let layer: [UInt8]
        if let injected = recipient.injected {
            var values = try ValuesInjection.inject(into: package.values, replicated: injected)
            if let subchartKey = package.valuesKey(ofSubchart: Self.sdkSubchart),
               var sdk = recipient.sdkValues(placement: placement, repository: repository) {
                sdk.append(("releaseImages", .list((releaseImages?(package) ?? []).map { .string($0) })))
                values = try ValuesInjection.inject(into: values, topLevel: subchartKey, sdk)
            }
            layer = try package.replacingValues(values).archive()
        } else {
            layer = originalBytes
        }
        let config = package.configJSON
        let configDigest = Digest.of(config), layerDigest = Digest.of(layer)
        let manifest = """
            {"schemaVersion":2,"mediaType":"\(ManifestMediaType.ociManifest)",\
            "config":{"mediaType":"\(Self.configMediaType)","digest":"\(configDigest)","size":\(config.count)},\
            "layers":[{"mediaType":"\(Self.layerMediaType)","digest":"\(layerDigest)","size":\(layer.count)}],\
            "annotations":{"org.opencontainers.image.title":\(JSONString.quote(package.name)),\
            "org.opencontainers.image.version":\(JSONString.quote(package.version))}}
            """
        let manifestBytes = ByteBuffer(string: manifest)
        let manifestDigest = Digest.of(Array(manifest.utf8))
        let record = ManifestRecord(digest: manifestDigest, mediaType: ManifestMediaType.ociManifest, size: Int64(manifestBytes.readableBytes))
        try await holding(Self.artifactLease(manifestDigest), for: 60, polling: .milliseconds(50)) {
            try await blobs.put(ByteBuffer(bytes: config), as: configDigest)
            try await blobs.put(ByteBuffer(bytes: layer), as: layerDigest)
            try await blobs.put(manifestBytes, as: manifestDigest)
            try await index.putManifest(record)
            let place = recipient.audience.visibility(repository)
            let delivered = delivered(to: recipient.audience, repository: repository)
            for digest in [configDigest, layerDigest, manifestDigest] {
                try await delivered.admit(digest)
            }
            // Recorded last: a recipe is only ever found with all its parts in place.
            try await built?.putDeliveredChart(key: key, digest: manifestDigest, size: record.size, place: place, at: now)
        }
        return (record, manifestBytes)
    }

    /// The blobs delivered to this audience through this repository: what this process built
    /// or read is known from memory, the rest from the shared index.
    public func delivered(to audience: Audience, repository: String) -> PlacedBlobs {
        PlacedBlobs(store: blobs, visibility: RememberedVisibility(index: visibility, memory: memory), place: audience.visibility(repository))
    }

    /// Whether `digest` was delivered to this audience through this repository.
    public func isDelivered(_ digest: Digest, repository: String, to audience: Audience) async throws -> Bool {
        try await delivered(to: audience, repository: repository).contains(digest)
    }

    /// Whether customers' values can be injected into the chart, as `build` injects them (with
    /// placeholders): checked when the chart is released, so a chart every customer's pull would
    /// fail on (a values.yaml that is a list, a schema that allows no `global.replicated`) is
    /// refused then, not at the first pull.
    public static func checkInjectable(_ package: ChartPackage) throws(ChartError) {
        if let refusal = package.schemaRefusesInjectedValues { throw ChartError(refusal) }
        let values = try ValuesInjection.inject(into: package.values, replicated: [("licenseID", .string("placeholder"))])
        if let subchartKey = package.valuesKey(ofSubchart: sdkSubchart) {
            _ = try ValuesInjection.inject(into: values, topLevel: subchartKey, [("appName", .string("placeholder"))])
        }
    }

    /// The `global.replicated` keys charts rely on; the names are a compatibility contract.
    public static func replicatedValues(license: License, licenseID: String, pullSecret: String, channelName: String,
                                        licenseFields: [SignedLicenseField]) -> [(String, ValuesInjection.Value)] {
        [
            ("dockerconfigjson", .string(pullSecret)),
            ("licenseID", .string(licenseID)),
            ("licenseType", .string(license.type.rawValue)),
            ("customerName", .string(license.customerName)),
            ("customerEmail", .string(license.customerEmail ?? "")),
            ("channelName", .string(channelName)),
            ("licenseFields", .map(licenseFields.map { ($0.definition.name, fieldObject($0)) })),
        ]
    }

    /// A field in the documented shape: `name`, `title`, `description`, `value` (typed),
    /// `valueType`, `signature.v1`, and `isHidden` for hidden fields.
    static func fieldObject(_ field: SignedLicenseField) -> ValuesInjection.Value {
        let d = field.definition
        let value: ValuesInjection.Value = switch d.type {
        case .integer: Int(field.value).map { .integer($0) } ?? .string(field.value)
        case .boolean: .boolean(field.value == "true")
        case .string, .text: .string(field.value)
        }
        var pairs: [(String, ValuesInjection.Value)] = [
            ("name", .string(d.name)), ("title", .string(d.title)), ("description", .string(d.description)), ("value", value),
            ("valueType", .string(d.type.valueType)), ("signature", .map([("v1", .string(field.signature))])),
        ]
        if d.hidden { pairs.append(("isHidden", .boolean(true))) }
        return .map(pairs)
    }
}
