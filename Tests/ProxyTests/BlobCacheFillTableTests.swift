import OCI
import Testing
@testable import Proxy

/// The blob cache's bookkeeping driven event by event: fills are strings, waiters numbers,
/// and nothing sleeps, so each interleaving is exact.
@Suite struct BlobCacheFillTableTests {
    typealias Table = BlobCache.FillTable<String, Int>
    let digest = Digest.of(Array("layer".utf8))
    let other = Digest.of(Array("other".utf8))

    @Test func aLoneReplicaStartsOneFillAndEveryoneElseJoinsIt() {
        var table = Table(pollInterval: .milliseconds(250))
        guard case .start = table.next(digest, for: "up/a", holdsLease: true) else { Issue.record("expected start"); return }
        #expect(table.started(digest, place: "up/a", fill: "fill-1").isEmpty)
        #expect(table.fillCount == 1 && table.isFilling(digest))
        // Same place: joined as is. Another place: joined once that place is confirmed.
        #expect(table.joinable(digest, for: "up/a").map { [$0.fill, "\($0.confirm)"] } == ["fill-1", "false"])
        #expect(table.joinable(digest, for: "up/b").map { [$0.fill, "\($0.confirm)"] } == ["fill-1", "true"])
        // A request that found the store empty while the fill started joins too, rather than starting another.
        guard case .join(let fill, let confirm) = table.next(digest, for: "up/b", holdsLease: true) else {
            Issue.record("expected join"); return
        }
        #expect(fill == "fill-1" && confirm)
        #expect(table.joinable(other, for: "up/a") == nil)
        table.finished(digest)
        #expect(table.fillCount == 0 && table.joinable(digest, for: "up/a") == nil)
    }

    @Test func withReplicasOneRequestPollsTheLeaseAndTheRestWaitWithIt() {
        var table = Table(pollInterval: .milliseconds(100))
        guard case .claimLease = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected claimLease"); return }
        guard case .wait = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected wait"); return }
        #expect(table.enqueue(digest, 1) == nil)
        guard case .wait = table.next(digest, for: "q", holdsLease: false) else { Issue.record("expected wait"); return }
        #expect(table.enqueue(digest, 2) == nil)
        // Held elsewhere: poll again, counting.
        for expected in 1...3 {
            guard case .poll(let after) = table.leaseAnswered(digest, claim: .heldElsewhere(peer: nil)) else { Issue.record("expected poll"); return }
            #expect(after == .milliseconds(100))
            #expect(table.polls(digest) == expected)
        }
        // Ours: the waiters are woken to look again; the leader fills if the store still lacks it.
        guard case .acquired(let woken) = table.leaseAnswered(digest, claim: .held) else { Issue.record("expected acquired"); return }
        #expect(woken == [1, 2])
        #expect(table.polls(digest) == nil)
        guard case .start = table.next(digest, for: "p", holdsLease: true) else { Issue.record("expected start"); return }
        #expect(table.started(digest, place: "p", fill: "fill").isEmpty)
        // The woken waiters, looking again, join the leader's fill.
        guard case .join(let fill, let confirm) = table.next(digest, for: "q", holdsLease: false) else { Issue.record("expected join"); return }
        #expect(fill == "fill" && confirm)
    }

    @Test func aWaitThatBeganWhileTheLeaderLookedInTheStoreJoinsItsFill() {
        var table = Table(pollInterval: .milliseconds(100))
        _ = table.next(digest, for: "p", holdsLease: false)
        guard case .acquired(let woken) = table.leaseAnswered(digest, claim: .held) else { Issue.record("expected acquired"); return }
        #expect(woken.isEmpty)
        // A new request arrives between the lease and the leader's fill, and starts a wait of its own.
        guard case .claimLease = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected claimLease"); return }
        guard case .wait = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected wait"); return }
        #expect(table.enqueue(digest, 7) == nil)
        // The leader, holding the lease, starts regardless; the queued request is handed to its fill.
        guard case .start = table.next(digest, for: "p", holdsLease: true) else { Issue.record("expected start"); return }
        #expect(table.started(digest, place: "p", fill: "fill") == [7])
        // The second wait's own lease answer finds nothing left to hold up.
        guard case .acquired(let none) = table.leaseAnswered(digest, claim: .held) else { Issue.record("expected acquired"); return }
        #expect(none.isEmpty)
        #expect(table.isFilling(digest))
    }

    @Test func aLeaderThatLeavesHandsTheWaitToTheOthers() {
        var table = Table(pollInterval: .milliseconds(100))
        _ = table.next(digest, for: "p", holdsLease: false)
        _ = table.next(digest, for: "p", holdsLease: false)
        #expect(table.enqueue(digest, 1) == nil)
        _ = table.leaseAnswered(digest, claim: .heldElsewhere(peer: nil))
        #expect(table.leaderLeft(digest) == [1])
        // Woken, the waiter looks again and leads a new wait.
        guard case .claimLease = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected claimLease"); return }
        #expect(table.polls(digest) == 0)
    }

    @Test func aWaiterQueuedAfterTheWaitEndedIsNotLost() {
        var table = Table(pollInterval: .milliseconds(100))
        _ = table.next(digest, for: "p", holdsLease: false)
        guard case .wait = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected wait"); return }
        // The lease is answered before the waiter gets to queue itself.
        _ = table.leaseAnswered(digest, claim: .held)
        #expect(table.enqueue(digest, 3) == 3, "handed back to be resumed at once")
    }

    @Test func finishingSomethingElseLeavesAWaitAlone() {
        var table = Table(pollInterval: .milliseconds(100))
        _ = table.next(digest, for: "p", holdsLease: false)
        table.finished(digest)
        #expect(table.polls(digest) == 0, "a wait is ended by its lease, not by a fill finishing")
        #expect(table.fillCount == 0)
    }

    // MARK: Streaming the holder's fill

    @Test func aHolderThatAdvertisesAnAddressIsAskedForItsFillAndTheWaitersJoinTheStream() {
        var table = Table(pollInterval: .milliseconds(100), streamsFromPeers: true)
        guard case .claimLease = table.next(digest, for: "p", holdsLease: false) else { Issue.record("expected claimLease"); return }
        guard case .wait = table.next(digest, for: "q", holdsLease: false) else { Issue.record("expected wait"); return }
        #expect(table.enqueue(digest, 1) == nil)
        guard case .askPeer(let peer) = table.leaseAnswered(digest, claim: .heldElsewhere(peer: "http://10.0.0.1:8080")) else {
            Issue.record("expected askPeer"); return
        }
        #expect(peer == "http://10.0.0.1:8080")
        // The peer streams: the leader records the stream as this replica's fill, and the
        // waiter is woken to join it (confirming its own place, as for any other fill).
        #expect(table.started(digest, place: "p", fill: "from-peer") == [1])
        guard case .join(let fill, let confirm) = table.next(digest, for: "q", holdsLease: false) else { Issue.record("expected join"); return }
        #expect(fill == "from-peer" && confirm)
        #expect(table.fillCount == 1)
    }

    @Test func aPeerWithNoFillIsAskedAgainOnlyAfterSomePolls() {
        var table = Table(pollInterval: .milliseconds(100), streamsFromPeers: true)
        _ = table.next(digest, for: "p", holdsLease: false)
        let held = LeaseClaim.heldElsewhere(peer: "http://a")
        guard case .askPeer = table.leaseAnswered(digest, claim: held) else { Issue.record("expected askPeer"); return }
        guard case .poll = table.peerDeclined(digest, peer: "http://a") else { Issue.record("expected poll"); return }
        for _ in 1..<Table.peerRetryPolls {
            guard case .poll = table.leaseAnswered(digest, claim: held) else { Issue.record("expected poll while the decline is recent"); return }
        }
        guard case .askPeer = table.leaseAnswered(digest, claim: held) else { Issue.record("expected askPeer again"); return }
        // A new holder (the first died, another took the lease over) is asked at once.
        _ = table.peerDeclined(digest, peer: "http://a")
        guard case .askPeer(let next) = table.leaseAnswered(digest, claim: .heldElsewhere(peer: "http://b")) else {
            Issue.record("expected askPeer for the new holder"); return
        }
        #expect(next == "http://b")
    }

    @Test func withoutAnAddressOrWithoutStreamingTheWaitPolls() {
        var streaming = Table(pollInterval: .milliseconds(100), streamsFromPeers: true)
        _ = streaming.next(digest, for: "p", holdsLease: false)
        guard case .poll = streaming.leaseAnswered(digest, claim: .heldElsewhere(peer: nil)) else { Issue.record("expected poll"); return }
        var plain = Table(pollInterval: .milliseconds(100))
        _ = plain.next(digest, for: "p", holdsLease: false)
        guard case .poll = plain.leaseAnswered(digest, claim: .heldElsewhere(peer: "http://a")) else { Issue.record("expected poll"); return }
        // The lease coming free still ends the wait.
        guard case .acquired = plain.leaseAnswered(digest, claim: .held) else { Issue.record("expected acquired"); return }
    }
}
