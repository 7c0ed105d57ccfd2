import Foundation

/// One running copy of a vendor's application, as its in-cluster SDK last reported it.
public struct InstanceRecord: Sendable, Equatable {
    public var customerID: String
    /// Chosen by the SDK (kept in its state, or pinned by the customer); unique per customer.
    public var instanceID: String
    public var appID: String
    public var clusterID: String?
    public var firstSeenAt: Date
    public var lastCheckinAt: Date
    public var versionLabel: String?
    public var releaseSequence: Int?
    public var channelSequence: Int?
    public var channelID: String?
    public var appStatus: String?
    public var k8sVersion: String?
    public var k8sDistribution: String?
    /// Scalars as JSON text, as the application reported them.
    public var customMetrics: [String: String]
    public var tags: [String: String]

    public init(customerID: String, instanceID: String, appID: String, clusterID: String? = nil, firstSeenAt: Date, lastCheckinAt: Date,
                versionLabel: String? = nil, releaseSequence: Int? = nil, channelSequence: Int? = nil, channelID: String? = nil,
                appStatus: String? = nil, k8sVersion: String? = nil, k8sDistribution: String? = nil, customMetrics: [String: String] = [:],
                tags: [String: String] = [:]) {
        self.customerID = customerID
        self.instanceID = instanceID
        self.appID = appID
        self.clusterID = clusterID
        self.firstSeenAt = firstSeenAt
        self.lastCheckinAt = lastCheckinAt
        self.versionLabel = versionLabel
        self.releaseSequence = releaseSequence
        self.channelSequence = channelSequence
        self.channelID = channelID
        self.appStatus = appStatus
        self.k8sVersion = k8sVersion
        self.k8sDistribution = k8sDistribution
        self.customMetrics = customMetrics
        self.tags = tags
    }
}

public protocol InstanceStore: Sendable {
    /// Keeps a check-in (its `firstSeenAt` is kept from the first); true when the instance is new.
    func recordCheckIn(_ instance: InstanceRecord) async throws -> Bool
    func instances(customerID: String) async throws -> [InstanceRecord]
    /// Instances whose last check-in is older than `cutoff`.
    func instances(lastCheckinBefore cutoff: Date) async throws -> [InstanceRecord]
    func forgetInstance(customerID: String, instanceID: String) async throws
    /// How many instances the customer has, and whether `instanceID` is one of them: one query,
    /// for every check-in.
    func instanceCensus(customerID: String, instanceID: String) async throws -> (count: Int, known: Bool)
    /// The customer's instance whose last check-in is oldest.
    func longestSilentInstance(customerID: String) async throws -> InstanceRecord?
}
