import Foundation
import OCI
import Storage
import Testing
@testable import Access

@Suite struct PeerPassTests {
    let key = SecretBox.generateKeyBytes()
    let digest = Digest.of(Array("a layer".utf8))
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func pass(_ key: [UInt8]) throws -> PeerPass { PeerPass(box: try SecretBox(keyBytes: key)) }

    @Test func aReplicaWithTheSameKeyAdmitsAPassForThatDigestUntilItExpires() throws {
        let made = try pass(key).pass(for: digest, now: now)
        let other = try pass(key)
        #expect(other.admits(made, for: digest, now: now))
        #expect(other.admits(made, for: digest, now: now.addingTimeInterval(59)))
        #expect(!other.admits(made, for: digest, now: now.addingTimeInterval(61)), "expired")
        #expect(!other.admits(made, for: Digest.of(Array("another layer".utf8)), now: now), "bound to its digest")
        #expect(!(try pass(SecretBox.generateKeyBytes())).admits(made, for: digest, now: now), "another deployment's key")
    }

    @Test func malformedAndFarFuturePassesAreRefused() throws {
        let peer = try pass(key)
        for text in [nil, "", ".", "abc", "123", "123.", ".\(String(repeating: "0", count: 64))", "x.y"] {
            #expect(!peer.admits(text, for: digest, now: now), "\(String(describing: text))")
        }
        // Made by someone whose clock is an hour ahead (or who would stretch a pass's life): refused.
        let future = peer.pass(for: digest, now: now.addingTimeInterval(3600))
        #expect(!peer.admits(future, for: digest, now: now))
        // A valid MAC with its expiry edited is refused too (the expiry is what is signed).
        let made = peer.pass(for: digest, now: now)
        let mac = made.split(separator: ".")[1]
        #expect(!peer.admits("\(Int(now.timeIntervalSince1970) + 50).\(mac)", for: digest, now: now))
    }
}
