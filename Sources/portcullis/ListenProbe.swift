#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether `serve` can listen where it was told, checked before anything is created on disk, so
/// a busy port is said plainly instead of as a socket error after a data directory appeared.
enum ListenProbe {
    /// Why `host:port` cannot be listened on, or nil when it can (or the check cannot tell).
    static func refusal(host: String, port: Int) -> String? {
        guard port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let name = host.isEmpty ? nil : host
        guard getaddrinfo(name, String(port), &hints, &found) == 0, let first = found else {
            return "\(host) does not resolve to an address of this machine"
        }
        defer { freeaddrinfo(first) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // As the server will: an address in TIME_WAIT from a previous run is not busy.
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return nil }
        switch errno {
        case EADDRINUSE: return "something is already listening there (another Portcullis?)"
        case EACCES: return "this user may not listen on port \(port) (ports below 1024 need privileges)"
        case EADDRNOTAVAIL: return "\(host) is not an address of this machine"
        default: return String(cString: strerror(errno))
        }
    }
}
