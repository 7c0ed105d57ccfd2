import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Synchronization
import TestSupport
import Testing
@testable import Upstream

// MARK: - Token cache

@Suite(.timeLimit(.minutes(1))) struct UpstreamTokenCacheTests {
    @Test func entriesExpireAQuarterOfTheirLifetimeOrTenSecondsEarly() async {
        let cache = UpstreamTokenCache()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        // (lifetime, last moment still served): margin = min(10, lifetime / 4).
        for (lifetime, servedUntil) in [(60.0, 50.0), (3600, 3590), (20, 15), (8, 6)] {
            await cache.store(registry: "r", scope: "s\(lifetime)", authorization: "A", lifetime: lifetime, now: now)
            #expect(await cache.authorization(registry: "r", scope: "s\(lifetime)", now: now.addingTimeInterval(servedUntil - 0.001)) == "A")
            #expect(await cache.authorization(registry: "r", scope: "s\(lifetime)", now: now.addingTimeInterval(servedUntil)) == nil)
        }
        await cache.store(registry: "r", scope: "x", authorization: "B", lifetime: 60, now: now)
        await cache.forget(registry: "r", scope: "x")
        #expect(await cache.authorization(registry: "r", scope: "x", now: now) == nil)
    }

    @Test func aRefusedValueIsForgottenOnlyWhileItIsStillTheCachedOne() async {
        let cache = UpstreamTokenCache()
        let now = Date()
        await cache.store(registry: "r", scope: "s", authorization: "Bearer new", lifetime: 60, now: now)
        await cache.forget(registry: "r", scope: "s", ifStill: "Bearer old")
        #expect(await cache.authorization(registry: "r", scope: "s", now: now) == "Bearer new")
        await cache.forget(registry: "r", scope: "s", ifStill: "Bearer new")
        #expect(await cache.authorization(registry: "r", scope: "s", now: now) == nil)
    }

    @Test func concurrentMissesShareOneFetch() async throws {
        let cache = UpstreamTokenCache()
        let fetches = Atomic(0)
        let started = Gate(), release = Gate()
        let fetch: @Sendable () async throws -> (authorization: String, lifetime: TimeInterval) = {
            fetches.add(1, ordering: .relaxed)
            await started.open()
            await release.wait()
            return ("Bearer shared", 300)
        }
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 {
                group.addTask { try await cache.authorization(registry: "r", scope: "s", fetch: fetch) }
            }
            // Every caller is waiting on the same held-back fetch.
            await started.wait()
            await release.open()
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: "Bearer shared", count: 10))
        #expect(fetches.load(ordering: .relaxed) == 1)
        #expect(await cache.authorization(registry: "r", scope: "s") == "Bearer shared")
        // Cached now: no fetch at all.
        _ = try await cache.authorization(registry: "r", scope: "s") { Issue.record("must not fetch"); return ("x", 1) }
        // Another scope is another fetch.
        #expect(try await cache.authorization(registry: "r", scope: "t") { ("Bearer t", 300) } == "Bearer t")
    }

    @Test func aFailedFetchIsNotCached() async throws {
        struct Refused: Error {}
        let cache = UpstreamTokenCache()
        await #expect(throws: Refused.self) {
            try await cache.authorization(registry: "r", scope: "s") { throw Refused() }
        }
        #expect(await cache.authorization(registry: "r", scope: "s") == nil)
        let fetched = Atomic(0)
        let value = try await cache.authorization(registry: "r", scope: "s") {
            fetched.add(1, ordering: .relaxed)
            return ("Bearer ok", 300)
        }
        #expect(value == "Bearer ok" && fetched.load(ordering: .relaxed) == 1, "the next caller fetches again")
    }

    @Test func aTokenWithNoLifetimeLeftIsNotServed() async throws {
        let cache = UpstreamTokenCache()
        let fetches = Atomic(0)
        for _ in 0..<2 {
            _ = try await cache.authorization(registry: "r", scope: "s") {
                fetches.add(1, ordering: .relaxed)
                return ("Bearer once", 0)
            }
        }
        #expect(fetches.load(ordering: .relaxed) == 2)
    }
}

// MARK: - Metrics

@Suite struct MetricsTransportTests {
    @Test(arguments: [200, 302, 404, 429, 503])
    func responsesPassThroughUnchanged(_ status: Int) async throws {
        let wire = ScriptedTransport([.response(status: status, headers: [("X-A", "1"), ("Retry-After", "7")], body: "body \(status)")])
        let request = get("https://reg.example/v2/", authorization: "Bearer t")
        let answer = try await MetricsTransport(wrapping: wire).send(request)
        #expect(answer.status == status)
        #expect(answer.header("X-A") == "1" && answer.header("Retry-After") == "7")
        #expect(String(buffer: try await answer.body.collect(upTo: 100)) == "body \(status)")
        #expect(wire.requests.count == 1)
        #expect(wire.requests[0].url == request.url && wire.requests[0].headers == request.headers && wire.requests[0].scope == request.scope)
    }

    @Test(arguments: [UpstreamError.unreachable("timeout"), .authenticationFailed, .invalidResponse("x")])
    func errorsPassThroughUnchanged(_ error: UpstreamError) async throws {
        let wire = ScriptedTransport([.failure(error)])
        await #expect(throws: error) { try await MetricsTransport(wrapping: wire).send(get("https://reg.example/v2/")) }
    }
}
