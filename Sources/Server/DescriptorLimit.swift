import Foundation
import Logging

/// Every connection, fill, spool file and upload session is a file descriptor, and a soft limit
/// of 1024 (systemd's default, many shells') runs out at a few hundred concurrent pulls, while
/// the hard limit is usually far higher. So the server raises its soft limit to the hard one at
/// start, as Go's runtime does for distribution.
enum DescriptorLimit {
    /// Below this, a busy server runs out: said once at start.
    static let comfortable: rlim_t = 4096

    static func raise(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let before = limit.rlim_cur
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        if limit.rlim_cur < comfortable {
            logger.warning("few file descriptors: each connection, fill and upload takes one; raise the limit (ulimit -n, LimitNOFILE=)",
                           metadata: ["limit": "\(limit.rlim_cur)"])
        } else if limit.rlim_cur != before {
            logger.debug("file descriptor limit raised", metadata: ["from": "\(before)", "to": "\(limit.rlim_cur)"])
        }
    }
}
