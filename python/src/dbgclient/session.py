"""A logged-in client: commands with results shaped like `subprocess.run`, and files."""

import hashlib
import os
import secrets
import stat as stat_module
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Sequence, Union

from . import messages as m
from .errors import CommandError, NotFound, ProtocolError, RemoteError, TransportError, TruncatedOutput
from .wire import DBG, Reader

if TYPE_CHECKING:
    from .app import App
    from .distro import Distro
    from .process import Process
    from .shell import Shell

Progress = Optional[Callable[[int], None]]
StrPath = Union[str, bytes]


class ExecResult:
    """What a command did, like `subprocess.CompletedProcess`: `exit_code` (also
    `returncode`; 128+N after signal N, 124 after the agent's timeout), `stdout` and
    `stderr` (bytes, at most the agent's --max-output each) and whether either was cut."""

    def __init__(self, args, result: m.ExecResult):
        self.args = args
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.stdout_truncated = result.stdout_truncated
        self.stderr_truncated = result.stderr_truncated

    @property
    def returncode(self) -> int:
        return self.exit_code

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    def check(self) -> "ExecResult":
        """Raises `CommandError` unless the command exited with 0, and `TruncatedOutput`
        when its output was cut; returns itself."""
        if self.exit_code != 0:
            raise CommandError(self.args, self)
        if self.truncated:
            raise TruncatedOutput("%r: its output went beyond the agent's --max-output and was cut" % (self.args,))
        return self

    def __repr__(self) -> str:
        return "ExecResult(args=%r, exit_code=%d, stdout=%d bytes%s, stderr=%d bytes%s)" % (
            self.args, self.exit_code, len(self.stdout), " (cut)" if self.stdout_truncated else "",
            len(self.stderr), " (cut)" if self.stderr_truncated else "")


class FileInfo:
    """Stat's answer: `type` ("file", "directory", "symlink", ...), `mode` (permission,
    set-id and sticky bits), `uid`, `gid`, `size`, `mtime` (seconds since 1970)."""

    def __init__(self, info):
        self.type = m.FILE_TYPES.get(info.type, "unknown")
        self.mode = info.mode
        self.size = info.size
        self.mtime = info.mtime
        self.uid = getattr(info, "uid", None)
        self.gid = getattr(info, "gid", None)
        self.name = getattr(info, "name", None)

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    def __repr__(self) -> str:
        return "FileInfo(%s%s, mode=%o, size=%d)" % (self.name + ": " if self.name else "", self.type, self.mode,
                                                      self.size)


def quote(word: StrPath) -> str:
    """One argv word for RunCommand's splitting (section 6): single-quoted."""
    if isinstance(word, bytes):
        word = word.decode("utf-8", "surrogateescape")
    return "'" + word.replace("'", "'\\''") + "'"


class LoggedIn:
    """A connection and the session logged in on it; file transfers move `window`
    requests of `chunk` bytes at a time (as `dbg` does)."""

    chunk = 256 << 10
    window = 8

    def __init__(self, connection, session: m.SessionInfo):
        self.connection = connection
        self.session = session

    @property
    def token(self) -> str:
        return self.session.token

    def _chunk_limit(self) -> int:
        # A WriteFile's payload holds the token, the path and some fields besides the data.
        return max(4096, min(self.chunk, self.connection.agent_max_frame - 8192))


class Client(LoggedIn):
    """The blocking client (`connect` makes one)."""

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def logout(self) -> None:
        self.connection.dbg("Logout", m.SessionToken(token=self.token))

    # Commands

    def run(self, argv: Union[Sequence[StrPath], str], cwd: str = "", timeout: int = 0) -> ExecResult:
        """Runs a program (argv as a list, or a command line split as a shell splits
        words, nothing expanded) as the session's user; waits for it to exit."""
        command = argv if isinstance(argv, str) else " ".join(quote(word) for word in argv)
        return self._exec("RunCommand", argv, command, cwd, timeout)

    def sh(self, cmdline: str, cwd: str = "", timeout: int = 0) -> ExecResult:
        """Runs `cmdline` with the user's login shell (`SHELL -c`)."""
        return self._exec("RunShell", cmdline, cmdline, cwd, timeout)

    def _exec(self, op: str, args, command: str, cwd: str, timeout: int) -> ExecResult:
        request = m.ExecRequest(token=self.token, command=command, cwd=cwd, timeout_sec=timeout)
        return ExecResult(args, self.connection.dbg(op, request))

    def popen(self, argv: Union[Sequence[StrPath], str], cwd: str = "", env=None, terminal: bool = False,
              rows: int = 0, cols: int = 0, timeout: int = 0) -> "Process":
        """Starts a streaming process (argv word for word, or a command line for the
        user's shell): stdin, stdout and stderr of any length, signals (see `Process`)."""
        from .process import dbg_process
        return dbg_process(self, argv, cwd, env, terminal, rows, cols, timeout)

    def shell(self, rows: int = 24, cols: int = 80, cwd: str = "") -> "Shell":
        """The user's login shell on a new PTY (see `Shell`)."""
        from .shell import DbgShells, Shell
        shells = DbgShells(self.token)
        return Shell(self.connection, shells, shells.open(self.connection, rows, cols, cwd))

    @property
    def app(self) -> "App":
        """The board's application runtime (see `App`)."""
        from .app import App
        return App(self.connection, self.token)

    @property
    def distro(self) -> "Distro":
        """The distro service: a Linux root file system on the board (see `Distro`)."""
        from .distro import Distro
        return Distro(self.connection)

    # Files: one request each

    def stat(self, path: StrPath) -> FileInfo:
        return FileInfo(self.connection.dbg("Stat", m.PathRequest(token=self.token, path=path)))

    def exists(self, path: StrPath) -> bool:
        try:
            self.stat(path)
            return True
        except NotFound:
            return False

    def listdir(self, path: StrPath = "") -> List[FileInfo]:
        """Every entry of a directory (without . and ..), page after page."""
        entries: List[FileInfo] = []
        cookie = 0
        while True:
            page = self.connection.dbg("ListDir", m.ListDirRequest(token=self.token, path=path, cookie=cookie))
            entries += [FileInfo(entry) for entry in page.entries]
            if page.done:
                return entries
            cookie = page.next_cookie

    def mkdir(self, path: StrPath, mode: int = 0, parents: bool = False) -> None:
        self.connection.dbg("Mkdir", m.MkdirRequest(token=self.token, path=path, mode=mode, parents=parents))

    def remove(self, path: StrPath, recursive: bool = False) -> None:
        self.connection.dbg("Remove", m.RemoveRequest(token=self.token, path=path, recursive=recursive))

    def rename(self, source: StrPath, destination: StrPath, replace: bool = False) -> None:
        self.connection.dbg("Rename", m.RenameRequest(token=self.token, from_path=source, to_path=destination,
                                                      replace=replace))

    def sha256(self, path: StrPath, offset: int = 0, length: int = 0) -> str:
        """SHA-256 of the file (or `length` bytes from `offset`), computed on the board."""
        answer = self.connection.dbg("Hash", m.HashRequest(token=self.token, path=path, offset=offset, length=length))
        return answer.digest.hex()

    # Files: windows of chunks in flight

    def read_chunks(self, path: StrPath, offset: int = 0) -> Iterator[memoryview]:
        """The file's bytes from `offset` to its end, in chunks (memoryviews of what was
        received, not copied), with `window` ReadFile requests in flight. After a failure
        the rest of the window is read and dropped."""
        in_flight: List[int] = []
        next_offset = offset
        ended = False
        try:
            while not ended or in_flight:
                while not ended and len(in_flight) < self.window:
                    request = m.ReadFileRequest(token=self.token, path=path, offset=next_offset, size=self.chunk)
                    in_flight.append(self.connection.send(DBG, m.OP["ReadFile"], request))
                    next_offset += self.chunk
                data, eof = _file_chunk(self.connection.answer(in_flight[0], None, raw=True))
                in_flight.pop(0)
                if eof:
                    ended = True
                yield data
        except BaseException as error:
            self._after_failure(in_flight, error)
            raise

    def _after_failure(self, in_flight: List[int], error: BaseException) -> None:
        """The answers still in flight after a window failed are read and dropped, so
        the connection's next call finds its own (a missing file answers every request
        with NotFound); not when the connection itself failed."""
        if isinstance(error, (TransportError, ProtocolError)):
            return
        if isinstance(error, RemoteError) and in_flight:
            in_flight.pop(0)  # its answer was the error
        for id in in_flight:
            try:
                self.connection.answer(id, None)
            except RemoteError:
                pass
        in_flight.clear()

    def read_bytes(self, path: StrPath) -> bytes:
        return b"".join(self.read_chunks(path))

    def write_chunks(self, path: StrPath, chunks: Iterator[bytes], mode: int = 0o644, progress: Progress = None) -> int:
        """Writes the chunks from offset 0 (the file is cut to them), with `window`
        WriteFile requests in flight; returns the bytes written."""
        in_flight: List[int] = []
        offset = 0
        first = True

        def settle(count: int) -> None:
            while len(in_flight) > count:
                self.connection.answer(in_flight[0], m.WriteFileResult)
                in_flight.pop(0)

        try:
            for data in chunks:
                data = memoryview(data)
                for start in range(0, max(len(data), 1), self._chunk_limit()):
                    piece = data[start:start + self._chunk_limit()]
                    request = m.WriteFileRequest(token=self.token, path=path, offset=offset, data=piece,
                                                 truncate=first, mode=mode)
                    in_flight.append(self.connection.send_around(DBG, m.OP["WriteFile"], request, "data"))
                    first = False
                    offset += len(piece)
                    settle(self.window - 1)
                    if progress:
                        progress(offset)
            if first:  # nothing at all: an empty file
                request = m.WriteFileRequest(token=self.token, path=path, offset=0, data=b"", truncate=True, mode=mode)
                in_flight.append(self.connection.send(DBG, m.OP["WriteFile"], request))
            settle(0)
        except BaseException as error:
            self._after_failure(in_flight, error)
            raise
        return offset

    def write_bytes(self, path: StrPath, data: bytes, mode: int = 0o644) -> int:
        return self.write_chunks(path, iter([data]), mode)

    # Whole files, like dbg push and pull

    def put(self, local: str, remote: str, progress: Progress = None, verify: bool = True,
            mode: Optional[int] = None) -> int:
        """Copies a local file (or a directory, recursively) to the board: written under
        a temporary name, then renamed over `remote`, so nobody sees half a file. With
        `verify`, the board's SHA-256 of what it wrote must equal the local file's."""
        if os.path.isdir(local):
            return self._put_tree(local, remote, progress, verify)
        status = os.stat(local)
        digest = hashlib.sha256() if verify else None
        temporary = "%s.dbg-%s" % (remote, secrets.token_hex(4))

        def chunks() -> Iterator[memoryview]:
            # One buffer, read into again: each chunk is sent before the next is read.
            buffer = memoryview(bytearray(self._chunk_limit()))
            with open(local, "rb", buffering=0) as source:
                while True:
                    count = source.readinto(buffer)
                    if not count:
                        return
                    if digest is not None:
                        digest.update(buffer[:count])
                    yield buffer[:count]

        try:
            written = self.write_chunks(temporary, chunks(), mode if mode is not None else stat_module.S_IMODE(status.st_mode),
                                        progress)
            if digest is not None and self.sha256(temporary) != digest.hexdigest():
                raise ProtocolError("%s: the board's SHA-256 of what it wrote differs from the local file's" % remote)
            self.rename(temporary, remote, replace=True)
        except BaseException:
            try:
                self.remove(temporary)
            except Exception:
                pass
            raise
        return written

    def _put_tree(self, local: str, remote: str, progress: Progress, verify: bool) -> int:
        total = 0
        self.mkdir(remote, parents=True)
        for name in sorted(os.listdir(local)):
            source = os.path.join(local, name)
            target = remote.rstrip("/") + "/" + name
            if os.path.islink(source):
                continue  # links are not followed out of the tree
            total += self._put_tree(source, target, progress, verify) if os.path.isdir(source) \
                else self.put(source, target, progress, verify)
        return total

    def get(self, remote: str, local: str, progress: Progress = None, verify: bool = False) -> int:
        """Copies a file (or a directory, recursively) from the board: written to a
        temporary local name, then renamed over `local`. With `verify`, the board's
        SHA-256 of the file must equal that of what arrived."""
        if self.stat(remote).is_dir:
            os.makedirs(local, exist_ok=True)
            return sum(self.get(remote.rstrip("/") + "/" + entry.name, os.path.join(local, entry.name), progress, verify)
                       for entry in self.listdir(remote) if entry.type in ("file", "directory"))
        temporary = "%s.dbg-%s" % (local, secrets.token_hex(4))
        digest = hashlib.sha256() if verify else None
        total = 0
        try:
            with open(temporary, "wb", buffering=0) as target:
                for data in self.read_chunks(remote):
                    target.write(data)
                    if digest is not None:
                        digest.update(data)
                    total += len(data)
                    if progress:
                        progress(total)
            if digest is not None and self.sha256(remote) != digest.hexdigest():
                raise ProtocolError("%s: what arrived differs from the board's file (SHA-256)" % remote)
            os.replace(temporary, local)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return total


def _file_chunk(payload) -> "tuple[memoryview, bool]":
    """A FileChunk's data (a view into the payload, not a copy) and its Eof."""
    reader = Reader(payload)
    data = reader.view()
    eof = reader.bool()
    reader.end()
    return data, eof
