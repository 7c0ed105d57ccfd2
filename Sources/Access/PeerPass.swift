import Foundation
import OCI
import Storage

/// What lets one replica ask another for a fill it is running: a MAC over the digest and an
/// expiry, under a key derived from the secret key every replica shares. Nothing else opens
/// the route, so it serves no one outside the deployment, and a pass read off the wire
/// opens that one digest for a minute at most.
///
/// Sent as `Portcullis-Peer: <unix expiry>.<hex MAC>`.
public struct PeerPass: Sendable {
    public static let header = "Portcullis-Peer"
    static let purpose = "portcullis peer fills v1"
    static let lifetime: TimeInterval = 60
    let box: SecretBox

    public init(box: SecretBox) {
        self.box = box
    }

    public func pass(for digest: Digest, now: Date = Date()) -> String {
        let expiry = Int64(now.timeIntervalSince1970 + Self.lifetime)
        return "\(expiry).\(box.authenticate("\(expiry) \(digest)", purpose: Self.purpose))"
    }

    /// Whether `pass` was made by a replica of this deployment for `digest` and is still good.
    public func admits(_ pass: String?, for digest: Digest, now: Date = Date()) -> Bool {
        guard let pass, let dot = pass.firstIndex(of: "."), let expiry = Int64(pass[..<dot]) else { return false }
        let seconds = now.timeIntervalSince1970
        // Also refuse a pass from further ahead than any replica would make (clocks drift a little).
        guard Double(expiry) >= seconds, Double(expiry) <= seconds + Self.lifetime + 30 else { return false }
        return constantTimeEquals(String(pass[pass.index(after: dot)...]), box.authenticate("\(expiry) \(digest)", purpose: Self.purpose))
    }
}
