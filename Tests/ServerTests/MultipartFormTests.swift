import NIOCore
import Testing
@testable import Server

struct MultipartFormTests {
    @Test func fieldsAndFilesAreSplitOnTheBoundary() throws {
        let binary: [UInt8] = [0x1f, 0x8b, 0x0d, 0x0a, 0x2d, 0x2d, 0x00, 0xff]
        var body = ByteBuffer(string: "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok-123\r\n"
                                  + "--XyZ\r\nContent-Disposition: form-data; name=\"chart\"; filename=\"web-1.0.0.tgz\"\r\n"
                                  + "Content-Type: application/gzip\r\n\r\n")
        body.writeBytes(binary)
        body.writeString("\r\n--XyZ\r\nContent-Disposition: form-data; name=\"notes\"\r\n\r\nline one\r\nline two\r\n--XyZ--\r\n")
        let form = try #require(MultipartForm.parse(body, contentType: "multipart/form-data; boundary=XyZ"))
        #expect(form.field("csrf") == "tok-123")
        #expect(form.field("notes") == "line one\r\nline two")
        let files = form.files("chart")
        #expect(files.count == 1 && files[0].filename == "web-1.0.0.tgz" && files[0].data == binary)
    }

    @Test func anythingElseIsRefused() {
        #expect(MultipartForm.parse(ByteBuffer(string: "a=b"), contentType: "application/x-www-form-urlencoded") == nil)
        #expect(MultipartForm.parse(ByteBuffer(string: "--b\r\nno end"), contentType: "multipart/form-data; boundary=b") == nil)
        #expect(MultipartForm.parse(ByteBuffer(string: "garbage"), contentType: "multipart/form-data; boundary=b") == nil)
    }
}
