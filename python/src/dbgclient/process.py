"""Streaming processes (dbg's ProcessStart, a distro's RunStart, and their events):
stdin, stdout and stderr of any length, signals and the exit status, like
`subprocess.Popen`."""

import io
import signal as signals
import time
from typing import Dict, Optional, Sequence, Tuple, Union

from . import messages as m
from .errors import ProtocolError, TransportError
from .wire import DBG, DISTRO

class DbgStreams:
    """The dbg service's streaming processes (ProcessStart and its ops and events)."""

    service = DBG
    events = (m.OP["ProcessStdout"], m.OP["ProcessStderr"], m.OP["ProcessInputCredit"], m.OP["ProcessExit"])

    def __init__(self, token: str):
        self.token = token

    def input(self, pid: int, data: bytes):
        return m.OP["ProcessInput"], m.ProcessInputRequest(token=self.token, process_id=pid, data=data)

    def close_input(self, pid: int):
        return m.OP["ProcessCloseInput"], m.ProcessRef(token=self.token, process_id=pid)

    def signal(self, pid: int, number: int):
        return m.OP["ProcessSignal"], m.ProcessSignalRequest(token=self.token, process_id=pid, signal=number)

    def resize(self, pid: int, rows: int, cols: int):
        return m.OP["ProcessResize"], m.ProcessResizeRequest(token=self.token, process_id=pid, rows=rows, cols=cols)


class DistroStreams:
    """The distro service's streamed runs (RunStart and its ops and events)."""

    service = DISTRO
    events = (m.DISTRO_OP["RunStdout"], m.DISTRO_OP["RunStderr"], m.DISTRO_OP["RunInputCredit"],
              m.DISTRO_OP["RunExit"])

    def input(self, pid: int, data: bytes):
        return m.DISTRO_OP["RunInput"], m.ProcessData(process_id=pid, data=data)

    def close_input(self, pid: int):
        return m.DISTRO_OP["RunCloseInput"], m.RunRef(process_id=pid)

    def signal(self, pid: int, number: int):
        return m.DISTRO_OP["RunSignal"], m.RunSignalRequest(process_id=pid, signal=number)

    def resize(self, pid: int, rows: int, cols: int):
        return m.DISTRO_OP["RunResize"], m.RunResizeRequest(process_id=pid, rows=rows, cols=cols)


def dbg_process(client, argv: Union[Sequence, str], cwd: str = "", env: Optional[Dict[str, str]] = None,
                terminal: bool = False, rows: int = 0, cols: int = 0, timeout: int = 0) -> "Process":
    """ProcessStart: argv word for word, or a command line for the user's shell."""
    arguments = [] if isinstance(argv, str) else [m.Argument(value=_bytes(word)) for word in argv]
    if not isinstance(argv, str) and not arguments:
        raise ValueError("an empty argv")
    environment = [m.Argument(value=_bytes("%s=%s" % item)) for item in (env or {}).items()]
    started = client.connection.dbg("ProcessStart", m.ProcessStartRequest(
        token=client.token, argv=arguments, command=argv if isinstance(argv, str) else "", cwd=cwd, env=environment,
        terminal=terminal, rows=rows, cols=cols, timeout_sec=timeout))
    return Process(client.connection, DbgStreams(client.token), started, argv)


class ProcessInput(io.RawIOBase):
    """`Process.stdin`: a writable file (`write`, `close`: end of input)."""

    def __init__(self, process: "Process"):
        self._process = process

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._process.write(bytes(data))
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._process.close_stdin()
        super().close()


class ProcessOutput(io.RawIOBase):
    """`Process.stdout` or `.stderr`: a readable file (`read(n)`, `read()` to the end,
    `readline`, iteration); b"" once the process exited and all was read."""

    def __init__(self, process: "Process", read_more):
        self._process = process
        self._read_more = read_more
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            data = self._read_more()
            if not data:
                return 0
            self._buffer += data
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        del self._buffer[:count]
        return count


class Process:
    """A program running on the board (dbg's ProcessStart, or a distro's RunStart), like
    `subprocess.Popen`: `stdin`, `stdout` and `stderr` are file objects (buffered:
    `readline` and iteration work), or the methods below. Output is kept until read;
    input is sent within the agent's window (`write` waits for credit). `returncode` is
    None until it exited (then the status, 128+N after signal N), and `signal`,
    `core_dumped`, `timed_out` say how."""

    def __init__(self, connection, streams, started: m.ProcessStarted, args):
        self._connection = connection
        self._streams = streams
        self.args = args
        self.process_id = started.process_id
        self._window = started.input_window
        self._unacknowledged = 0
        self._input_closed = False
        self._stdout = bytearray()
        self._stderr = bytearray()
        self.returncode: Optional[int] = None
        self.signal = 0
        self.core_dumped = False
        self.timed_out = False
        self.stdin = io.BufferedWriter(ProcessInput(self))
        self.stdout = io.BufferedReader(ProcessOutput(self, self.read_stdout))
        self.stderr = io.BufferedReader(ProcessOutput(self, self.read_stderr))

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *_) -> None:
        if self.returncode is None:
            self.kill()
            self.wait()

    # Input

    def write(self, data: bytes, timeout: Optional[float] = None) -> None:
        """Sends `data` to stdin, as the agent's window allows (waits for credit)."""
        if self._input_closed:
            raise ValueError("stdin is closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(data)
        limit = max(1, self._connection.agent_max_frame - 4096)
        while view:
            room = self._window - self._unacknowledged
            if room <= 0:
                if self.returncode is not None:
                    raise TransportError("process %d exited before it read its input" % self.process_id)
                self._pump(deadline)
                continue
            part = view[:min(room, limit)]
            self._one_way(self._streams.input(self.process_id, bytes(part)))
            self._unacknowledged += len(part)
            view = view[len(part):]

    def close_stdin(self) -> None:
        """End of input, once what was sent before is written."""
        if not self._input_closed:
            self._input_closed = True
            if self.returncode is None:
                self._one_way(self._streams.close_input(self.process_id))

    # Signals

    def send_signal(self, number: int) -> None:
        """To the process group the process leads (1 to 64)."""
        if self.returncode is None:
            self._one_way(self._streams.signal(self.process_id, int(number)))

    def terminate(self) -> None:
        self.send_signal(signals.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signals.SIGKILL)

    def resize(self, rows: int, cols: int) -> None:
        """The terminal's size (a process started with `terminal=True`)."""
        self._one_way(self._streams.resize(self.process_id, rows, cols))

    # Output and the end

    def read_stdout(self, timeout: Optional[float] = None) -> bytes:
        """What stdout has given since the last read; waits for some unless it ended."""
        return self._read(self._stdout, timeout)

    def read_stderr(self, timeout: Optional[float] = None) -> bytes:
        return self._read(self._stderr, timeout)

    def read_output(self, timeout: Optional[float] = None) -> Tuple[bytes, bytes]:
        """What stdout and stderr have given since the last read; waits until either
        gives something (or the process ends)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._take_events()
        while not self._stdout and not self._stderr and self.returncode is None:
            self._pump(deadline)
        stdout, stderr = bytes(self._stdout), bytes(self._stderr)
        self._stdout.clear()
        self._stderr.clear()
        return stdout, stderr

    def poll(self) -> Optional[int]:
        """The exit status if the process has exited (what has arrived says so)."""
        self._take_events()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the exit (output keeps arriving into the buffers)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            self._pump(deadline)
        return self.returncode

    def communicate(self, input: Optional[bytes] = None, timeout: Optional[float] = None) -> Tuple[bytes, bytes]:
        """Sends `input` (then closes stdin), waits for the exit; all of stdout and stderr."""
        if input:
            self.write(input, timeout)
        self.close_stdin()
        self.wait(timeout)
        stdout, stderr = bytes(self._stdout), bytes(self._stderr)
        self._stdout.clear()
        self._stderr.clear()
        return stdout, stderr

    # Events

    def _read(self, buffer: bytearray, timeout: Optional[float]) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._take_events()
        while not buffer and self.returncode is None:
            self._pump(deadline)
        data = bytes(buffer)
        buffer.clear()
        return data

    def _pump(self, deadline: Optional[float]) -> None:
        if not self._take_events():
            self._connection.receive_events(deadline)
            self._take_events()

    def _is_mine(self, header, payload) -> bool:
        return header.service == self._streams.service and header.op in self._streams.events \
            and m.ShellSession.decode(payload[:4]).session_id == self.process_id

    def _take_events(self) -> bool:
        stdout, stderr, credit, _ = self._streams.events
        events = self._connection.take_events(self._is_mine)
        for header, payload in events:
            if header.op == stdout:
                self._stdout += m.ProcessData.decode(payload).data
            elif header.op == stderr:
                self._stderr += m.ProcessData.decode(payload).data
            elif header.op == credit:
                credit = m.ProcessCredit.decode(payload).bytes
                if credit > self._unacknowledged:
                    raise ProtocolError("the agent gave back %d bytes of input credit, %d were sent" %
                                        (credit, self._unacknowledged))
                self._unacknowledged -= credit
            else:
                end = m.ProcessExitEvent.decode(payload)
                self.returncode, self.signal = end.exit_code, end.signal
                self.core_dumped, self.timed_out = end.core_dumped, end.timed_out
        return bool(events)

    def _one_way(self, op_and_request) -> None:
        op, request = op_and_request
        self._connection.send(self._streams.service, op, request, id=0)


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
