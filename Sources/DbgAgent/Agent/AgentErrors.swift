/// A bad flag or flag value: the agent prints the message and exits with status 2.
struct ConfigError: Error, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Something the agent needs at start-up could not be had (a port in use, too few file
/// descriptors): the agent prints the message and exits with status 1.
struct StartupError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
