import Foundation
import Testing
@testable import PortcullisAPI

/// Times in request bodies are RFC 3339, and a day the calendar does not have is refused rather
/// than rolled over into the next month.
@Suite struct APICodingTests {
    struct Body: Decodable { var at: Date }

    func decode(_ time: String) -> Date? {
        try? APICoding.decoder.decode(Body.self, from: Data(#"{"at":"\#(time)"}"#.utf8)).at
    }

    @Test func timesAreDecodedAndImpossibleDaysRefused() {
        #expect(decode("2030-03-02T00:00:00Z") == Date(timeIntervalSince1970: 1_898_640_000))
        #expect(decode("2028-02-29T12:00:00Z") != nil, "a leap day")
        #expect(decode("2030-01-01T01:00:00+02:00") == decode("2029-12-31T23:00:00Z"))
        for impossible in ["2030-02-30T00:00:00Z", "2029-02-29T00:00:00Z", "2030-13-01T00:00:00Z", "2030-04-31T00:00:00Z", "2030-01-01", "soon"] {
            #expect(decode(impossible) == nil, "\(impossible)")
        }
    }
}
