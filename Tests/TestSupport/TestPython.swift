import Foundation

/// The Python of the repository's venv (or `PORTCULLIS_PYTHON`), for tests that compare with or
/// generate from a Python library (botocore's signer, the testkit's certificate authority).
public enum TestPython {
    /// A Python that can import `module`, or nil (the test is then skipped with that reason).
    public static func find(importing module: String) -> String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates: [String?] = [ProcessInfo.processInfo.environment["PORTCULLIS_PYTHON"],
                                     root.appendingPathComponent(".venv/bin/python3").path, "/usr/bin/python3"]
        return candidates.compactMap { $0 }.first { path in
            FileManager.default.isExecutableFile(atPath: path) && (try? run(path, ["-c", "import \(module)"]))?.status == 0
        }
    }

    public static func run(_ executable: String, _ arguments: [String], input: Data = Data()) throws
        -> (status: Int32, stdout: Data, stderr: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, out, err)
    }
}
