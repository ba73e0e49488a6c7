"""The control and dbg services' messages and ops, transcribed from docs/PROTOCOL.md
(sections 3, 5 and 6). Each message is a small class made from its field table, with
`encode()` and `decode(payload)`; field names are the document's, in snake case.

Field types: "string" (str, UTF-8 with surrogate escapes, so any bytes survive),
"bytes", "bool", "int" (i64), "int32", "uint32", "uint64", "u32list", and
("list", "TypeName") for a u32 count followed by that many messages.
"""

from typing import Any, Dict, List, Optional, Tuple

from .wire import CONTROL, DBG, DISTRO, Reader, Writer

FIELDS: Dict[str, Tuple[Tuple[str, Any], ...]] = {
    "Empty": (),
    "Error": (("code", "uint32"), ("errno", "int32"), ("message", "string")),
    # Control (section 5)
    "HelloRequest": (("version", "uint32"), ("max_frame", "uint32"), ("client", "string")),
    "HelloResponse": (("version", "uint32"), ("max_frame", "uint32"), ("agent", "string"),
                      ("services", "u32list"), ("features", "string")),
    "Ping": (("data", "bytes"),),
    # dbg (section 6)
    "AuthRequest": (("username", "string"), ("password", "string")),
    "SessionInfo": (("token", "string"), ("username", "string"), ("uid", "uint32"), ("gid", "uint32"),
                    ("home", "string"), ("shell", "string")),
    "SessionToken": (("token", "string"),),
    "ExecRequest": (("token", "string"), ("command", "string"), ("cwd", "string"), ("timeout_sec", "int32")),
    "ExecResult": (("exit_code", "int"), ("stdout", "bytes"), ("stderr", "bytes"), ("stdout_truncated", "bool"),
                   ("stderr_truncated", "bool")),
    "ShellOpenRequest": (("token", "string"), ("cwd", "string"), ("rows", "int"), ("cols", "int")),
    "ShellInputRequest": (("token", "string"), ("session_id", "uint32"), ("data", "bytes")),
    "ShellResizeRequest": (("token", "string"), ("session_id", "uint32"), ("rows", "int"), ("cols", "int")),
    "ShellCloseRequest": (("token", "string"), ("session_id", "uint32")),
    "ReadFileRequest": (("token", "string"), ("path", "string"), ("offset", "uint64"), ("size", "uint32")),
    "FileChunk": (("data", "bytes"), ("eof", "bool")),
    "WriteFileRequest": (("token", "string"), ("path", "string"), ("offset", "uint64"), ("data", "bytes"),
                         ("truncate", "bool"), ("mode", "uint32")),
    "WriteFileResult": (("written", "uint32"),),
    "PathRequest": (("token", "string"), ("path", "string")),
    "FileInfo": (("type", "uint32"), ("mode", "uint32"), ("uid", "uint32"), ("gid", "uint32"), ("size", "uint64"),
                 ("mtime", "int")),
    "ListDirRequest": (("token", "string"), ("path", "string"), ("cookie", "uint64")),
    "DirEntry": (("name", "string"), ("type", "uint32"), ("mode", "uint32"), ("size", "uint64"), ("mtime", "int")),
    "DirPage": (("entries", ("list", "DirEntry")), ("next_cookie", "uint64"), ("done", "bool")),
    "MkdirRequest": (("token", "string"), ("path", "string"), ("mode", "uint32"), ("parents", "bool")),
    "RemoveRequest": (("token", "string"), ("path", "string"), ("recursive", "bool")),
    "RenameRequest": (("token", "string"), ("from_path", "string"), ("to_path", "string"), ("replace", "bool")),
    "HashRequest": (("token", "string"), ("path", "string"), ("offset", "uint64"), ("length", "uint64")),
    "HashResult": (("digest", "bytes"), ("length", "uint64")),
    "ShellSession": (("session_id", "uint32"),),
    "ShellData": (("session_id", "uint32"), ("data", "bytes")),
    "ShellExitEvent": (("session_id", "uint32"), ("exit_code", "int")),
    # Streaming processes (section 6, extension ops 0x0650-0x065B)
    "Argument": (("value", "bytes"),),
    "ProcessStartRequest": (("token", "string"), ("argv", ("list", "Argument")), ("command", "string"),
                            ("cwd", "string"), ("env", ("list", "Argument")), ("terminal", "bool"), ("rows", "int"),
                            ("cols", "int"), ("timeout_sec", "int32")),
    "ProcessInputRequest": (("token", "string"), ("process_id", "uint32"), ("data", "bytes")),
    "ProcessRef": (("token", "string"), ("process_id", "uint32")),
    "ProcessSignalRequest": (("token", "string"), ("process_id", "uint32"), ("signal", "int32")),
    "ProcessResizeRequest": (("token", "string"), ("process_id", "uint32"), ("rows", "int"), ("cols", "int")),
    "ProcessStarted": (("process_id", "uint32"), ("input_window", "uint32")),
    "ProcessData": (("process_id", "uint32"), ("data", "bytes")),
    "ProcessCredit": (("process_id", "uint32"), ("bytes", "uint32")),
    "ProcessExitEvent": (("process_id", "uint32"), ("exit_code", "int"), ("signal", "int32"), ("core_dumped", "bool"),
                         ("timed_out", "bool")),
    # The application runtime (section 6, extension op 0x0660)
    "AppCallRequest": (("token", "string"), ("message", "bytes")),
    "AppCallResult": (("message", "bytes"),),
    # distro (section 7); its types that share a name with dbg's are prefixed "Distro".
    "StatusResponse": (("installed", "bool"), ("path", "string"), ("size", "int")),
    "InstallRequest": (("url", "string"),),
    "RunRequest": (("command", "string"), ("workdir", "string"), ("bind", "string"), ("env", "string"),
                   ("input", "bytes")),
    "RunResult": (("stdout", "bytes"), ("stderr", "bytes"), ("exit_code", "int")),
    "DistroShellOpenRequest": (("workdir", "string"), ("bind", "string"), ("env", "string"), ("rows", "int"),
                               ("cols", "int")),
    "DistroShellResizeRequest": (("session_id", "uint32"), ("rows", "int"), ("cols", "int")),
    "RunStartRequest": (("command", "string"), ("workdir", "string"), ("bind", "string"), ("env", "string"),
                        ("terminal", "bool"), ("rows", "int"), ("cols", "int"), ("timeout_sec", "int32")),
    "RunRef": (("process_id", "uint32"),),
    "RunSignalRequest": (("process_id", "uint32"), ("signal", "int32")),
    "RunResizeRequest": (("process_id", "uint32"), ("rows", "int"), ("cols", "int")),
}

# (service, op) -> (name, request type, response type or None for one-way)
CONTROL_OPS = {
    1: ("Hello", "HelloRequest", "HelloResponse"),
    2: ("Ping", "Ping", "Ping"),
}
DBG_OPS = {
    0x0601: ("Authenticate", "AuthRequest", "SessionInfo"),
    0x0602: ("Logout", "SessionToken", "Empty"),
    0x0610: ("RunCommand", "ExecRequest", "ExecResult"),
    0x0611: ("RunShell", "ExecRequest", "ExecResult"),
    0x0612: ("ShellOpen", "ShellOpenRequest", "ShellSession"),
    0x0613: ("ShellInput", "ShellInputRequest", None),
    0x0614: ("ShellResize", "ShellResizeRequest", None),
    0x0615: ("ShellClose", "ShellCloseRequest", None),
    0x0620: ("ReadFile", "ReadFileRequest", "FileChunk"),
    0x0621: ("WriteFile", "WriteFileRequest", "WriteFileResult"),
    0x0640: ("Stat", "PathRequest", "FileInfo"),
    0x0641: ("ListDir", "ListDirRequest", "DirPage"),
    0x0642: ("Mkdir", "MkdirRequest", "Empty"),
    0x0643: ("Remove", "RemoveRequest", "Empty"),
    0x0644: ("Rename", "RenameRequest", "Empty"),
    0x0645: ("Hash", "HashRequest", "HashResult"),
    0x0650: ("ProcessStart", "ProcessStartRequest", "ProcessStarted"),
    0x0651: ("ProcessInput", "ProcessInputRequest", None),
    0x0652: ("ProcessCloseInput", "ProcessRef", None),
    0x0653: ("ProcessSignal", "ProcessSignalRequest", None),
    0x0654: ("ProcessResize", "ProcessResizeRequest", None),
    0x0660: ("AppCall", "AppCallRequest", "AppCallResult"),
}
DBG_EVENTS = {0x0630: ("ShellOutput", "ShellData"), 0x0631: ("ShellExit", "ShellExitEvent"),
              0x0658: ("ProcessStdout", "ProcessData"), 0x0659: ("ProcessStderr", "ProcessData"),
              0x065A: ("ProcessInputCredit", "ProcessCredit"), 0x065B: ("ProcessExit", "ProcessExitEvent")}

DISTRO_OPS = {
    0x0201: ("Status", "Empty", "StatusResponse"),
    0x0202: ("Install", "InstallRequest", "Empty"),
    0x0203: ("Run", "RunRequest", "RunResult"),
    0x0204: ("Remove", "Empty", "Empty"),
    0x0205: ("ShellOpen", "DistroShellOpenRequest", "ShellSession"),
    0x0206: ("ShellInput", "ShellData", None),
    0x0207: ("ShellResize", "DistroShellResizeRequest", None),
    0x0208: ("ShellClose", "ShellSession", None),
    0x0209: ("RunStart", "RunStartRequest", "ProcessStarted"),
    0x020A: ("RunInput", "ProcessData", None),
    0x020B: ("RunCloseInput", "RunRef", None),
    0x020C: ("RunSignal", "RunSignalRequest", None),
    0x020D: ("RunResize", "RunResizeRequest", None),
}
DISTRO_EVENTS = {0x0301: ("ShellOutput", "ShellData"), 0x0302: ("ShellExit", "ShellExitEvent"),
                 0x0303: ("RunStdout", "ProcessData"), 0x0304: ("RunStderr", "ProcessData"),
                 0x0305: ("RunInputCredit", "ProcessCredit"), 0x0306: ("RunExit", "ProcessExitEvent")}
# The distro service's ops and events by name (their names overlap dbg's).
DISTRO_OP = {name: op for op, (name, _, _) in DISTRO_OPS.items()}
DISTRO_OP.update({name: op for op, (name, _) in DISTRO_EVENTS.items()})

# Op numbers by name, e.g. OP["ReadFile"] == 0x0620.
OP = {name: op for table in (CONTROL_OPS, DBG_OPS) for op, (name, _, _) in table.items()}
OP.update({name: op for op, (name, _) in DBG_EVENTS.items()})



def response_type(service: int, op: int) -> "Optional[type]":
    """The message type answering `op` of `service`; None for a one-way op."""
    table = {CONTROL: CONTROL_OPS, DBG: DBG_OPS, DISTRO: DISTRO_OPS}.get(service, {})
    if op not in table:
        raise ValueError("no response type known for service 0x%x op 0x%04x" % (service, op))
    name = table[op][2]
    return TYPES[name] if name else None


# FileInfo.type and DirEntry.type (section 6).
FILE_TYPES = {0: "unknown", 1: "file", 2: "directory", 3: "symlink", 4: "char-device", 5: "block-device",
              6: "fifo", 7: "socket"}

_DEFAULTS = {"string": "", "bytes": b"", "bool": False, "int": 0, "int32": 0, "uint32": 0, "uint64": 0}
_RANGES = {"int": (-(1 << 63), (1 << 63) - 1), "int32": (-(1 << 31), (1 << 31) - 1),
           "uint32": (0, (1 << 32) - 1), "uint64": (0, (1 << 64) - 1)}


class Message:
    """A payload type: its fields as attributes (see FIELDS)."""

    type_name = ""
    fields: Tuple[Tuple[str, Any], ...] = ()

    def __init__(self, **values: Any) -> None:
        for name, kind in self.fields:
            default = [] if isinstance(kind, tuple) or kind == "u32list" else _DEFAULTS[kind]
            setattr(self, name, values.pop(name, default))
        if values:
            raise TypeError("%s has no field %s" % (self.type_name, ", ".join(sorted(values))))

    def __repr__(self) -> str:
        return "%s(%s)" % (self.type_name, ", ".join("%s=%r" % (n, getattr(self, n)) for n, _ in self.fields))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n, _ in self.fields)

    def encode(self) -> bytes:
        writer = Writer()
        self._write(writer)
        return bytes(writer.out)

    def encode_around(self, field: str) -> "tuple[bytes, bytes]":
        """The encoding before the value of the []byte `field` (its length prefix
        included) and after it: to send a large value from where it lies."""
        before, after = Writer(), Writer()
        writer = before
        for name, kind in self.fields:
            if name == field:
                before.uint32(len(getattr(self, name)))
                writer = after
            else:
                self._write_field(writer, name, kind)
        if writer is before:
            raise ValueError("%s has no field %s" % (self.type_name, field))
        return bytes(before.out), bytes(after.out)

    def _write(self, writer: Writer) -> None:
        for name, kind in self.fields:
            self._write_field(writer, name, kind)

    def _write_field(self, writer: Writer, name: str, kind) -> None:
        value = getattr(self, name)
        if isinstance(kind, tuple):
            writer.uint32(len(value))
            for item in value:
                item._write(writer)
        elif kind == "u32list":
            writer.uint32(len(value))
            for item in value:
                _check_range(self.type_name, name, "uint32", item)
                writer.uint32(item)
        elif kind == "string" or kind == "bytes":
            writer.bytes(value)
        else:
            if kind != "bool":
                _check_range(self.type_name, name, kind, value)
            getattr(writer, kind)(value)

    @classmethod
    def decode(cls, payload: bytes) -> "Message":
        reader = Reader(payload)
        message = cls._read(reader)
        reader.end()
        return message

    @classmethod
    def _read(cls, reader: Reader) -> "Message":
        values: Dict[str, Any] = {}
        for name, kind in cls.fields:
            if isinstance(kind, tuple):
                item_type = TYPES[kind[1]]
                values[name] = [item_type._read(reader) for _ in range(reader.uint32())]
            elif kind == "u32list":
                values[name] = [reader.uint32() for _ in range(reader.uint32())]
            else:
                values[name] = getattr(reader, kind)()
        return cls(**values)


def _check_range(type_name: str, field: str, kind: str, value: int) -> None:
    low, high = _RANGES[kind]
    if not isinstance(value, int) or not low <= value <= high:
        raise ValueError("%s.%s: %r is not a %s" % (type_name, field, value, kind))


TYPES: Dict[str, type] = {}
for _name, _fields in FIELDS.items():
    TYPES[_name] = type(_name, (Message,), {"type_name": _name, "fields": _fields})
globals().update(TYPES)

__all__: List[str] = ["FIELDS", "TYPES", "OP", "CONTROL_OPS", "DBG_OPS", "DBG_EVENTS", "DISTRO_OPS", "DISTRO_EVENTS",
                       "DISTRO_OP", "FILE_TYPES", "Message", "response_type"] \
    + list(TYPES)
