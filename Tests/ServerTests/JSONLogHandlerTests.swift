import Foundation
import Logging
import Testing
@testable import Server

struct JSONLogHandlerTests {
    @Test func aLineIsOneJSONObjectWithStableFields() throws {
        let line = JSONLogHandler.line(at: Date(timeIntervalSince1970: 1_800_000_000.25), level: .warning, label: "portcullis",
                                       message: "upstream \"slow\"\nsecond line", source: "Proxy",
                                       metadata: ["registry": "quay", "bytes": .stringConvertible(42), "msg": "not the message",
                                                  "tags": .array(["a", "b"])])
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false, "one line, whatever the message holds")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["ts"] as? String == "2027-01-15T08:00:00.250Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["msg"] as? String == "upstream \"slow\"\nsecond line")
        #expect(object["source"] as? String == "Proxy" && object["label"] as? String == "portcullis")
        #expect(object["registry"] as? String == "quay" && object["bytes"] as? String == "42")
        #expect(object["meta_msg"] as? String == "not the message", "metadata never replaces a fixed field")
        #expect(object["tags"] as? [String] == ["a", "b"])
    }
}
