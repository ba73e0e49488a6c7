import DbgClient
import DbgWire
import Glibc

/// Exit statuses of dbg's own failures (a remote command's status is passed through).
enum ExitStatus {
    static let failure: Int32 = 1
    static let usage: Int32 = 64
    static let authentication: Int32 = 254
    static let unreachable: Int32 = 255
}

/// Runs `body`; a failure becomes one line on stderr, `dbg: WHAT: MESSAGE`, and the exit
/// status that says what kind of failure it was. Never a backtrace.
@discardableResult
func attempt<T>(_ what: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ClientError {
        Terminal.error("dbg: \(what): \(error.message)")
        throw ExitCode(status(of: error))
    } catch let error as LocalFailure {
        Terminal.error("dbg: \(what): \(error.message)")
        throw ExitCode(ExitStatus.failure)
    }
}

func status(of error: ClientError) -> Int32 {
    switch error {
    case .connect, .io, .untrusted: return ExitStatus.unreachable
    case .usage: return ExitStatus.usage
    case .malformed, .remote: return ExitStatus.failure
    }
}

/// A failure on this side (a local file), reported like the agent's.
struct LocalFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

enum Terminal {
    static func error(_ line: String) {
        writeOut(2, Array((line + "\n").utf8))
    }

    static var stdinIsTerminal: Bool { isatty(0) == 1 }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}
