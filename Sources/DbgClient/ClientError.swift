import DbgWire

public enum ClientError: Error, Equatable {
    /// A bad address or argument given by the user.
    case usage(String)
    /// The agent could not be reached.
    case connect(String)
    /// The connection failed or timed out while talking.
    case io(String)
    /// The agent sent something that does not follow the protocol.
    case malformed(String)
    /// The board's key is not the one the client trusts (TLS pinning).
    case untrusted(String)
    /// The agent answered with an error frame.
    case remote(code: ErrorCode, errno: Int32, message: String)

    public var message: String {
        switch self {
        case .usage(let text), .connect(let text), .io(let text), .malformed(let text), .untrusted(let text): return text
        case .remote(let code, let errno, let message):
            return errno == 0 ? "\(code.name): \(message)" : "\(code.name) (errno \(errno)): \(message)"
        }
    }
}
