import CSys

/// Milliseconds since an arbitrary point; never goes back (CLOCK_MONOTONIC).
typealias Milliseconds = UInt64

enum MonotonicClock {
    static func now() -> Milliseconds { csys_monotonic_ms() }
}
