import Foundation

/// The longest duration any setting, request or SDK value takes: a hundred years. Times are kept
/// as whole milliseconds and seconds in 64 bits; past a century (or `inf`) a duration is a typo,
/// not a wish, and converting it would trap.
public enum DurationLimit {
    public static let longest: TimeInterval = 100 * 365.25 * 86400
}
