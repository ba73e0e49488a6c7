/// A bad flag or flag value: the agent prints the message and exits with status 2.
public struct ConfigError: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Something the agent needs at start-up could not be had (a port in use, too few file
/// descriptors): the agent prints the message and exits with status 1.
public struct StartupError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}
