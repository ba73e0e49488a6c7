"""One exception hierarchy: everything dbgclient raises is a `DbgError`."""

from typing import Dict, Type


class DbgError(Exception):
    """Anything that went wrong talking to an agent."""


class ConnectError(DbgError):
    """The agent could not be reached (or the target is not one)."""


class UntrustedBoard(ConnectError):
    """A TLS board key that is not the one pinned or recorded (or a new one not accepted)."""


class ProtocolError(DbgError):
    """The agent sent something the protocol does not allow; the connection is done."""


class TransportError(DbgError):
    """The connection failed or timed out while in use."""


class RemoteError(DbgError):
    """An error frame from the agent: its code (docs/PROTOCOL.md, section 3), the errno
    behind an IO error, and its message."""

    code = 0
    name = "Error"

    def __init__(self, code: int, errno: int, message: str):
        super().__init__("%s%s: %s" % (CODE_NAMES.get(code, "Error %d" % code),
                                       " (errno %d)" % errno if errno else "", message))
        self.code = code
        self.errno = errno
        self.message = message


class BadRequest(RemoteError):
    code = 1


class Unauthenticated(RemoteError):
    code = 2


class Denied(RemoteError):
    code = 3


class NotFound(RemoteError):
    code = 4


class Exists(RemoteError):
    code = 5


class TooLarge(RemoteError):
    code = 6


class Busy(RemoteError):
    code = 7


class Timeout(RemoteError):
    code = 8


class Unsupported(RemoteError):
    code = 9


class Internal(RemoteError):
    code = 10


class IOFailure(RemoteError):
    """The agent's system call failed; `errno` says how."""
    code = 11


_CLASSES: Dict[int, Type[RemoteError]] = {cls.code: cls for cls in (
    BadRequest, Unauthenticated, Denied, NotFound, Exists, TooLarge, Busy, Timeout, Unsupported, Internal, IOFailure)}

CODE_NAMES = {1: "BadRequest", 2: "Unauthenticated", 3: "Denied", 4: "NotFound", 5: "Exists", 6: "TooLarge",
              7: "Busy", 8: "Timeout", 9: "Unsupported", 10: "Internal", 11: "IO"}


def remote_error(code: int, errno: int, message: str) -> RemoteError:
    """The exception for an error frame; codes this client does not know stay RemoteError."""
    return _CLASSES.get(code, RemoteError)(code, errno, message)


class CommandError(DbgError):
    """A command exited with a status other than 0 (`ExecResult.check`)."""

    def __init__(self, command, result):
        super().__init__("%r exited with %d: %s" % (command, result.exit_code,
                                                    result.stderr.decode("utf-8", "replace").strip()[-500:]))
        self.command = command
        self.result = result


class TruncatedOutput(DbgError):
    """A command's output went beyond the agent's limit (--max-output) and was cut."""
