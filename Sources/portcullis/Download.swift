import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI
import PortcullisAPI

extension APIClient {
    /// Streams `path` into `output`, through `output.partial`: an interrupted download leaves
    /// nothing under the output name and is resumed with `Range` on the next run, provided the
    /// server still has the same archive (same digest). The whole file is checked against the
    /// digest the server declares before it takes the output name.
    func download(_ path: String, to output: String) async throws -> (bytes: Int64, digest: String?, resumedAt: Int64?) {
        let partial = output + ".partial", expected = output + ".partial.digest"
        let fm = FileManager.default
        // What the interrupted download was of: a resume must be of the same archive.
        let earlierDigest = (try? String(contentsOfFile: expected, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        var have = Int64((try? fm.attributesOfItem(atPath: partial)[.size] as? NSNumber)?.int64Value ?? 0)
        if earlierDigest == nil { have = 0 }
        for attempt in 0..<2 {
            let resumeFrom = attempt == 0 && have > 0 ? have : 0
            let result = try await fetch(path, into: partial, digestFile: expected, from: resumeFrom, expecting: earlierDigest)
            guard let result else { continue } // the archive changed since: start over
            guard rename(partial, output) == 0 else { throw CLIError("cannot rename \(partial) to \(output)") }
            try? fm.removeItem(atPath: expected)
            return (result.bytes, result.digest, resumeFrom > 0 ? resumeFrom : nil)
        }
        throw CLIError("the archive kept changing while it was downloaded; run the command again")
    }

    /// One GET into `partial` from byte `start`; nil when the server's archive is not the one
    /// the partial file holds the beginning of.
    private func fetch(_ path: String, into partial: String, digestFile: String, from start: Int64, expecting: String?) async throws
        -> (bytes: Int64, digest: String?)? {
        let fm = FileManager.default
        if !fm.fileExists(atPath: partial) || start == 0 { fm.createFile(atPath: partial, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: partial) else { throw CLIError("cannot write \(partial)") }
        defer { try? handle.close() }
        var request = HTTPClientRequest(url: baseURL + API.prefix + path)
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        if start > 0 { request.headers.add(name: "Range", value: "bytes=\(start)-") }
        let client = makeHTTPClient()
        defer { _ = client.shutdown() }
        let response: HTTPClientResponse
        do {
            // Building a bundle fetches every image first: the answer may take a while.
            response = try await client.execute(request, timeout: .hours(6))
        } catch {
            // Nothing was received: no file is left behind (one left from an earlier run stays, to resume).
            if start == 0 { try? fm.removeItem(atPath: partial) }
            throw CLIError("cannot reach the Portcullis API at \(baseURL): \(explain(error))")
        }
        let declared = response.headers.first(name: "Docker-Content-Digest")
        var have = start
        switch response.status.code {
        case 200:
            have = 0
            try handle.truncate(atOffset: 0)
        case 206 where declared != nil && declared == expecting:
            try handle.seek(toOffset: UInt64(start))
        case 206, 416:
            return nil
        default:
            if start == 0 { try? fm.removeItem(atPath: partial) }
            let bytes = try await response.body.collect(upTo: 1 << 20)
            let message = (try? APICoding.decoder.decode(APIErrorBody.self, from: Data(bytes.readableBytesView)))?.error
            throw CLIError(message ?? "HTTP \(response.status.code)")
        }
        if let declared { try declared.write(toFile: digestFile, atomically: true, encoding: .utf8) }
        do {
            for try await chunk in response.body {
                try handle.write(contentsOf: chunk.readableBytesView)
                have += Int64(chunk.readableBytes)
            }
        } catch {
            throw CLIError("download interrupted after \(have) bytes (\(error)); run the command again to resume")
        }
        try handle.synchronize()
        if let declared {
            let actual = try Self.sha256(ofFile: partial)
            guard actual == declared else {
                try? fm.removeItem(atPath: partial)
                try? fm.removeItem(atPath: digestFile)
                throw CLIError("the download does not match its digest (\(actual), expected \(declared)); removed it, run again")
            }
        }
        return (have, declared)
    }

    static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = DigestHasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update([UInt8](chunk)) }
        return hasher.finalize().description
    }
}
