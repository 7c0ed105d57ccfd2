import Connectivity
import Logging
import Synchronization
import TestSupport
import Testing

@Suite struct DeadlineTests {
    struct TimedOut: Error {}
    struct Failed: Error, Equatable {}

    @Test func anAnswerInTimeIsReturnedAndAFailureThrown() async throws {
        #expect(try await withDeadline(.seconds(5), timedOut: { TimedOut() }) { 42 } == 42)
        await #expect(throws: Failed.self) { try await withDeadline(.seconds(5), timedOut: { TimedOut() }) { () async throws -> Int in throw Failed() } }
    }

    /// What nobody answers is stopped waiting for at the deadline, and goes on by itself: the
    /// work here cannot end before the test lets it, which it does only once the wait is over.
    @Test func noAnswerByTheDeadlineIsTimedOutAndTheWorkGoesOn() async throws {
        let gate = Gate()
        let finished = Mutex(false)
        await #expect(throws: TimedOut.self) {
            try await withDeadline(.milliseconds(100), timedOut: { TimedOut() }) {
                await gate.wait()
                finished.withLock { $0 = true }
            }
        }
        #expect(!finished.withLock { $0 })
        await gate.open()
        for _ in 0..<500 where !finished.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(finished.withLock { $0 }, "the work was cancelled")
    }
}

@Suite struct ConnectionFailureTests {
    struct Described: Error, CustomStringConvertible { let description: String }

    @Test func librariesWordsBecomeWhatHappened() {
        let cases: [(String, ConnectionFailure)] = [
            ("handshakeFailed(sslError([error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER at /x/ssl/tls_record.cc:231]))", .notTLS),
            ("IOError: connection reset (error set): Connection refused) (errno: 111)", .refused),
            ("HTTPClientError.remoteConnectionClosed", .closedAtOnce),
            ("NIOSSLExtraError.failedToValidateHostname: Couldn't find <none> in certificate from peer", .certificateNotForHost),
            ("unknownError([error:0b00008e:X.509 certificate routines:OPENSSL_internal:NO_CERTIFICATE_OR_CRL_FOUND])", .unreadableCA),
            ("DNS error: SocketAddressError.UnknownHost", .unresolvable),
            ("HTTPClientError.deadlineExceeded", .timedOut),
        ]
        for (text, expected) in cases {
            #expect(ConnectionFailure(Described(description: text)) == expected, "\(text)")
        }
        #expect(ConnectionFailure(reflected: "PSQLError(code: connectionError, underlying: Connection refused)") == .refused)
    }

    @Test func anythingElseKeepsItsTextWithoutBuildPaths() {
        let failure = ConnectionFailure(Described(description: "odd failure at /work/main/.build/checkouts/x/y.cc:12 here"))
        #expect(failure == .other("Described: odd failure here"))
        #expect(!failure.describe().contains(".build"))
    }
}

@Suite struct HTTPClientLoggerTests {
    @Test func traceNeverReachesTheHTTPClient() {
        var logger = Logger(label: "t")
        logger.logLevel = .trace
        #expect(logger.forHTTPClient.logLevel == .debug)
        logger.logLevel = .info
        #expect(logger.forHTTPClient.logLevel == .info)
    }
}
