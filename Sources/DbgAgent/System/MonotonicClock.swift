import CSys

/// Milliseconds since an arbitrary point; never goes back (CLOCK_MONOTONIC).
public typealias Milliseconds = UInt64

public enum MonotonicClock {
    public static func now() -> Milliseconds { csys_monotonic_ms() }
}
