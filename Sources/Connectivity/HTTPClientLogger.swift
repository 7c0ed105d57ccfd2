import Logging

extension Logger {
    /// This logger as AsyncHTTPClient should get it: at trace level the client logs response
    /// heads and the first and last bytes of every body part, which carry upstream tokens and
    /// cookies, so it gets debug at most (its connection and retry lines stay).
    public var forHTTPClient: Logger {
        var capped = self
        if capped.logLevel < .debug { capped.logLevel = .debug }
        return capped
    }
}
