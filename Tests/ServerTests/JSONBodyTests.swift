import Foundation
import NIOCore
import Testing
@testable import Server

/// No text Portcullis keeps can hold a NUL (PostgreSQL refuses one, SQLite cuts the text there):
/// an admin request carrying one is refused whole.
@Suite struct JSONBodyTests {
    func hasNUL(_ json: String) -> Bool {
        ByteBuffer(string: json).withUnsafeReadableBytes(JSONBody.containsNUL)
    }

    @Test func anEscapedNULIsFoundAndEscapedBackslashesAreNot() {
        #expect(hasNUL(#"{"name":"Globex\u0000zzz"}"#))
        #expect(hasNUL(#"{"name":"a\\\u0000"}"#), "an escaped backslash, then an escaped NUL")
        #expect(!hasNUL(#"{"name":"a\\u0000"}"#), "an escaped backslash, then the letters u0000")
        #expect(!hasNUL(#"{"name":"Globex \u00e9 \u0001"}"#))
        #expect(hasNUL("{\"name\":\"a\0b\"}"), "a raw NUL byte")
        #expect(!hasNUL(#"{"a":"\"}"#))
    }
}
