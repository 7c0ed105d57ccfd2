/// Gives the heap pages freed by one large piece of work back to the system.
///
/// glibc keeps freed memory in its heaps for reuse and by itself returns only the top of the
/// main heap; parsing a chart with 10 MB of values leaves tens of MiB scattered through the
/// heaps that nothing asks for again: 60 MiB of a server's 88 MiB of private memory after it
/// released and delivered one such chart (bench/RESULTS.md). `malloc_trim` walks every heap once
/// (milliseconds), so it follows such work only, never a request that is a lookup.
public enum FreedMemory {
    public static func returnToSystem() {
        #if os(Linux)
        _ = mallocTrim(0)
        #endif
    }
}

#if os(Linux)
// glibc's <malloc.h>, which the Glibc module does not bring in.
@_silgen_name("malloc_trim")
private func mallocTrim(_ pad: Int) -> Int32
#endif
