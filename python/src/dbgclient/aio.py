"""The asyncio API: the same codec, framing, errors, targets and board-key checks as the
blocking client, over asyncio streams. One task reads the connection and hands each
answer to the request waiting for it, so many requests (and many coroutines) share one
connection.

    async with await dbgclient.aio.connect("board", user="root", password="...") as board:
        result = await board.run(["uname", "-a"])
        await board.put("app", "/usr/local/bin/app")
"""

import asyncio
import hashlib
import os
import secrets
from typing import Dict, List, Optional, Sequence, Tuple, Union

from . import messages as m
from . import tls
from .client import CLIENT_NAME, PROTOCOL_VERSION
from .errors import ConnectError, DbgError, ProtocolError, RemoteError, TransportError, remote_error
from .session import ExecResult, FileInfo, LoggedIn, _file_chunk, quote
from .target import parse
from .wire import CONTROL, DBG, ERROR, EVENT, FrameReader, REQUEST, encode_frame


class AsyncConnection:
    """Requests and their answers over asyncio streams; events go to `events`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target, timeout: Optional[float],
                 max_frame: int = 16 << 20):
        self.target = target
        self.timeout = timeout
        self.agent_max_frame = 1 << 20
        self.events: asyncio.Queue = asyncio.Queue()
        self._reader = reader
        self._writer = writer
        self._frames = FrameReader(max_frame)
        self._max_frame = max_frame
        self._waiting: Dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._failure: Optional[DbgError] = None
        self._task = asyncio.get_running_loop().create_task(self._read_frames())

    async def close(self) -> None:
        self._task.cancel()
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (OSError, asyncio.CancelledError):
            pass

    async def _read_frames(self) -> None:
        try:
            while True:
                data = await self._reader.read(1 << 20)
                if not data:
                    raise TransportError("%s closed the connection" % (self.target,))
                self._frames.feed(data)
                for header, payload in self._frames.frames():
                    self._dispatch(header, payload)
        except DbgError as error:
            self._fail(error)
        except OSError as error:
            self._fail(TransportError("receiving from %s failed: %s" % (self.target, error.strerror or error)))

    def _dispatch(self, header, payload) -> None:
        if header.kind == EVENT:
            self.events.put_nowait((header, payload))
        elif header.kind == ERROR and header.id == 0:
            error = m.Error.decode(payload)
            self._fail(remote_error(error.code, error.errno, error.message))
        else:
            waiting = self._waiting.pop(header.id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result((header, payload))

    def _fail(self, error: DbgError) -> None:
        self._failure = error
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(error)
        self._waiting.clear()

    def send(self, service: int, op: int, message: m.Message) -> Tuple[int, asyncio.Future]:
        """Queues a request for sending; its id and the future of its answer frame."""
        if self._failure is not None:
            raise self._failure
        self._next_id = self._next_id % 0xFFFFFFFF + 1
        id = self._next_id
        payload = message.encode()
        if len(payload) > self.agent_max_frame:
            raise ProtocolError("a request of %d bytes, above the agent's limit of %d" % (len(payload),
                                                                                          self.agent_max_frame))
        future = asyncio.get_running_loop().create_future()
        self._waiting[id] = future
        self._writer.write(encode_frame(REQUEST, service, op, id, payload))
        return id, future

    async def answer(self, future: asyncio.Future, response: Optional[type], raw: bool = False):
        """The decoded answer (or its raw payload), or the agent's error raised."""
        try:
            await self._writer.drain()
            header, payload = await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            raise TransportError("timed out waiting for %s" % (self.target,)) from None
        except OSError as error:
            raise TransportError("sending to %s failed: %s" % (self.target, error.strerror or error)) from None
        if header.kind == ERROR:
            error = m.Error.decode(payload)
            raise remote_error(error.code, error.errno, error.message)
        if raw:
            return payload
        return response.decode(payload) if response is not None else None

    async def call(self, service: int, op: int, request: m.Message, response: Optional[type] = None):
        if response is None:
            response = m.response_type(service, op)
        _, future = self.send(service, op, request)
        return await self.answer(future, response)

    async def dbg(self, op: str, request: m.Message):
        return await self.call(DBG, m.OP[op], request)

    async def hello(self, client: str = CLIENT_NAME) -> m.HelloResponse:
        answer = await self.call(CONTROL, m.OP["Hello"], m.HelloRequest(version=PROTOCOL_VERSION,
                                                                         max_frame=self._max_frame, client=client))
        self.agent_max_frame = answer.max_frame
        return answer

    async def ping(self, data: bytes = b"") -> bytes:
        return (await self.call(CONTROL, m.OP["Ping"], m.Ping(data=data))).data


async def open_connection(target: str, timeout: Optional[float] = 30.0, fingerprint: Optional[str] = None,
                          accept_new: bool = False, known_agents: Optional[str] = None) -> AsyncConnection:
    """As `dbgclient.open_connection`, with asyncio streams."""
    parsed = parse(target)
    try:
        if parsed.kind == "unix":
            opened = asyncio.open_unix_connection(parsed.path)
        elif parsed.kind in ("tcp", "tls"):
            opened = asyncio.open_connection(parsed.host, parsed.port,
                                             ssl=tls.client_context() if parsed.kind == "tls" else None,
                                             server_hostname="" if parsed.kind == "tls" else None)
        else:
            raise ConnectError("%s: %s targets are not supported by dbgclient.aio (TCP, TLS and Unix sockets are)"
                               % (target, parsed.kind))
        reader, writer = await asyncio.wait_for(opened, timeout)
    except asyncio.TimeoutError:
        raise ConnectError("%s: no answer within %s s" % (parsed, timeout)) from None
    except OSError as error:  # ssl.SSLError included
        what = "TLS handshake with" if parsed.kind == "tls" else "cannot connect to"
        raise ConnectError("%s %s: %s" % (what, parsed, getattr(error, "strerror", None) or error)) from None
    if parsed.kind == "tls":
        presented = tls.key_fingerprint(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        try:
            tls.check_trust(str(parsed._replace(kind="tcp")), presented, fingerprint, accept_new, known_agents)
        except BaseException:
            writer.close()
            raise
    return AsyncConnection(reader, writer, parsed, timeout)


class AsyncClient(LoggedIn):
    """Commands and files, as `dbgclient.Client` has them, for asyncio."""

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *_) -> None:
        await self.close()

    async def run(self, argv: Union[Sequence, str], cwd: str = "", timeout: int = 0) -> ExecResult:
        command = argv if isinstance(argv, str) else " ".join(quote(word) for word in argv)
        return ExecResult(argv, await self.connection.dbg(
            "RunCommand", m.ExecRequest(token=self.token, command=command, cwd=cwd, timeout_sec=timeout)))

    async def sh(self, cmdline: str, cwd: str = "", timeout: int = 0) -> ExecResult:
        return ExecResult(cmdline, await self.connection.dbg(
            "RunShell", m.ExecRequest(token=self.token, command=cmdline, cwd=cwd, timeout_sec=timeout)))

    async def stat(self, path) -> FileInfo:
        return FileInfo(await self.connection.dbg("Stat", m.PathRequest(token=self.token, path=path)))

    async def listdir(self, path="") -> List[FileInfo]:
        entries: List[FileInfo] = []
        cookie = 0
        while True:
            page = await self.connection.dbg("ListDir", m.ListDirRequest(token=self.token, path=path, cookie=cookie))
            entries += [FileInfo(entry) for entry in page.entries]
            if page.done:
                return entries
            cookie = page.next_cookie

    async def mkdir(self, path, mode: int = 0, parents: bool = False) -> None:
        await self.connection.dbg("Mkdir", m.MkdirRequest(token=self.token, path=path, mode=mode, parents=parents))

    async def remove(self, path, recursive: bool = False) -> None:
        await self.connection.dbg("Remove", m.RemoveRequest(token=self.token, path=path, recursive=recursive))

    async def rename(self, source, destination, replace: bool = False) -> None:
        await self.connection.dbg("Rename", m.RenameRequest(token=self.token, from_path=source, to_path=destination,
                                                            replace=replace))

    async def sha256(self, path, offset: int = 0, length: int = 0) -> str:
        answer = await self.connection.dbg("Hash", m.HashRequest(token=self.token, path=path, offset=offset,
                                                                 length=length))
        return answer.digest.hex()

    async def read_bytes(self, path) -> bytes:
        parts = []
        in_flight: List[asyncio.Future] = []
        offset, ended = 0, False
        try:
            while not ended or in_flight:
                while not ended and len(in_flight) < self.window:
                    _, future = self.connection.send(DBG, m.OP["ReadFile"], m.ReadFileRequest(
                        token=self.token, path=path, offset=offset, size=self.chunk))
                    in_flight.append(future)
                    offset += self.chunk
                data, eof = _file_chunk(await self.connection.answer(in_flight.pop(0), None, raw=True))
                parts.append(data)
                ended = ended or eof
        finally:
            await _settle(self.connection, in_flight)
        return b"".join(parts)

    async def write_bytes(self, path, data: bytes, mode: int = 0o644) -> int:
        limit = self._chunk_limit()
        view = memoryview(data)
        return await self._write_chunks(path, (view[start:start + limit] for start in range(0, len(view), limit)),
                                        mode)

    async def _write_chunks(self, path, chunks, mode: int, digest=None) -> int:
        """Writes the chunks from offset 0 (the file is cut to them), `window` in flight."""
        in_flight: List[asyncio.Future] = []
        offset = 0
        try:
            for data in chunks:
                if digest is not None:
                    digest.update(data)
                _, future = self.connection.send(DBG, m.OP["WriteFile"], m.WriteFileRequest(
                    token=self.token, path=path, offset=offset, data=data, truncate=offset == 0, mode=mode))
                in_flight.append(future)
                offset += len(data)
                if len(in_flight) >= self.window:
                    await self.connection.answer(in_flight.pop(0), m.WriteFileResult)
            if offset == 0:  # nothing at all: an empty file
                _, future = self.connection.send(DBG, m.OP["WriteFile"], m.WriteFileRequest(
                    token=self.token, path=path, offset=0, data=b"", truncate=True, mode=mode))
                in_flight.append(future)
            while in_flight:
                await self.connection.answer(in_flight.pop(0), m.WriteFileResult)
        finally:
            await _settle(self.connection, in_flight)
        return offset

    async def put(self, local: str, remote: str, verify: bool = True) -> int:
        """A local file to the board under a temporary name, checked, then renamed."""
        digest = hashlib.sha256() if verify else None
        temporary = "%s.dbg-%s" % (remote, secrets.token_hex(4))
        try:
            with open(local, "rb") as source:
                chunks = iter(lambda: source.read(self._chunk_limit()), b"")
                written = await self._write_chunks(temporary, chunks, os.stat(local).st_mode & 0o7777, digest)
            if digest is not None and await self.sha256(temporary) != digest.hexdigest():
                raise ProtocolError("%s: the board's SHA-256 of what it wrote differs from the local file's" % remote)
            await self.rename(temporary, remote, replace=True)
        except BaseException:
            try:
                await self.remove(temporary)
            except DbgError:
                pass
            raise
        return written

    async def get(self, remote: str, local: str, verify: bool = False) -> int:
        """A board file to a temporary local name, checked, then renamed."""
        data = await self.read_bytes(remote)
        if verify and await self.sha256(remote) != hashlib.sha256(data).hexdigest():
            raise ProtocolError("%s: what arrived differs from the board's file (SHA-256)" % remote)
        temporary = "%s.dbg-%s" % (local, secrets.token_hex(4))
        with open(temporary, "wb") as target:
            target.write(data)
        os.replace(temporary, local)
        return len(data)


async def _settle(connection: AsyncConnection, in_flight: List[asyncio.Future]) -> None:
    """Answers still due after a failure are awaited and dropped (a missing file answers
    every request with NotFound), so nothing is left waiting."""
    for future in in_flight:
        try:
            await connection.answer(future, None)
        except RemoteError:
            pass
        except DbgError:
            break  # the connection itself failed: nothing more will come
    in_flight.clear()


async def connect(target: str, user: str = "root", password: Optional[str] = None, timeout: Optional[float] = 30.0,
                  fingerprint: Optional[str] = None, accept_new: bool = False,
                  known_agents: Optional[str] = None) -> AsyncClient:
    """As `dbgclient.connect`, for asyncio."""
    if password is None:
        raise ConnectError("a password is needed to log in")
    connection = await open_connection(target, timeout, fingerprint, accept_new, known_agents)
    try:
        await connection.hello()
        session = await connection.dbg("Authenticate", m.AuthRequest(username=user, password=password))
    except BaseException:
        await connection.close()
        raise
    return AsyncClient(connection, session)


__all__ = ["connect", "open_connection", "AsyncClient", "AsyncConnection"]
