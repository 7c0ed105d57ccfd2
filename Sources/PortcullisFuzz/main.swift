// libFuzzer's entry point: `swift build --product portcullis-fuzz --sanitize=fuzzer --sanitize=address`
// links libFuzzer's own main around it (see scripts/fuzz). PORTCULLIS_FUZZ_TARGET names the
// target; built without the fuzzer, this executable does nothing.
import FuzzTargets
import Foundation

let target: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["PORTCULLIS_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        fatalError("PORTCULLIS_FUZZ_TARGET must be one of \(FuzzTargets.all.keys.sorted().joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    target(count == 0 ? [] : Array(UnsafeRawBufferPointer(start: start, count: count)))
    return 0
}
