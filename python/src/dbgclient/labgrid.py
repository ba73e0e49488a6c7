"""labgrid support: a `DbgService` resource and a `DbgDriver` (CommandProtocol through
RunShell, FileTransferProtocol through windowed ReadFile and WriteFile). Loaded from an
environment file, with nothing added to labgrid's tree:

    imports:
      - dbgclient.labgrid
    targets:
      main:
        resources:
          DbgService:
            address: 192.168.7.2      # any dbgclient target: host[:port], tls://host, unix:/path
            username: root            # the password: `password:` here, or DBG_PASSWORD
        drivers:
          DbgDriver: {}

The driver also binds to labgrid's `NetworkService` (whose `port` is then the agent's,
and which remote exporters tunnel), and to serial ports: `RawSerialPort` (a local
device) and `NetworkSerialPort` (ser2net's raw or RFC 2217 export), for a board whose
dbgd serves its UART (`dbgd --serial`); the login is then the driver's `username` and
`password` (or DBG_PASSWORD).
"""

import os

import attr
from labgrid.driver.commandmixin import CommandMixin
from labgrid.driver.common import Driver
from labgrid.driver.exception import ExecutionError
from labgrid.factory import target_factory
from labgrid.protocol import CommandProtocol, FileTransferProtocol
from labgrid.resource.common import Resource
from labgrid.step import step

import dbgclient

_string = attr.validators.instance_of(str)


@target_factory.reg_resource
@attr.s(eq=False)
class DbgService(Resource):
    """dbgd on the board: its address (any form dbgclient takes; `port` applies to a
    bare host) and who logs in."""
    address = attr.ib(validator=_string)
    username = attr.ib(default="root", validator=_string)
    password = attr.ib(default="", validator=_string)
    port = attr.ib(default=dbgclient.DEFAULT_PORT, validator=attr.validators.instance_of(int))
    fingerprint = attr.ib(default="", validator=_string)


def _lines(data: bytes, codec: str, errors: str):
    lines = data.decode(codec, errors).split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


@target_factory.reg_driver
@attr.s(eq=False)
class DbgDriver(CommandMixin, Driver, CommandProtocol, FileTransferProtocol):
    """Commands and files through dbgd. Output cut at the agent's --max-output raises
    ExecutionError: it never passes as if it were whole."""
    bindings = {"service": {"DbgService", "NetworkService", "SerialPort", "NetworkSerialPort"}}
    priorities = {CommandProtocol: 20, FileTransferProtocol: 20}
    username = attr.ib(default="", validator=_string)
    password = attr.ib(default="", validator=_string)
    timeout = attr.ib(default=30.0, validator=attr.validators.instance_of(float))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.client = None

    def _target(self) -> str:
        """The resource as a dbgclient target: a serial port (local, or a port server's
        raw or RFC 2217 export), or the address with its `port` when it names none."""
        service = self.service
        if not hasattr(service, "address"):
            if hasattr(service, "host"):  # NetworkSerialPort
                scheme = "rfc2217://" if service.protocol == "rfc2217" else "socket://"
                host = "[%s]" % service.host if ":" in service.host else service.host
                return "%s%s:%d,%d" % (scheme, host, service.port, service.speed)
            return "serial:%s,%d" % (service.port, service.speed)
        address = self.service.address
        parsed = dbgclient.parse_target(address)
        if parsed.kind not in ("tcp", "tls"):
            return address
        bare = address[len("tls://"):] if parsed.kind == "tls" else address
        has_port = "]:" in bare if bare.startswith("[") else ":" in bare
        return address if has_port else str(parsed._replace(port=self.service.port))

    def on_activate(self):
        password = self.password or getattr(self.service, "password", "") or os.environ.get("DBG_PASSWORD")
        if not password:
            raise ExecutionError("DbgDriver: no password (the driver's or the resource's password, or DBG_PASSWORD)")
        fingerprint = getattr(self.service, "fingerprint", "") or None
        user = self.username or getattr(self.service, "username", "") or "root"
        try:
            self.client = dbgclient.connect(self._target(), user=user,
                                            password=password, timeout=self.timeout, fingerprint=fingerprint)
        except dbgclient.DbgError as error:
            raise ExecutionError("DbgDriver: %s" % error) from None

    def on_deactivate(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    @Driver.check_active
    @step(args=["cmd"], result=True)
    def run(self, cmd, *, timeout=30, codec="utf-8", decodeerrors="strict"):
        return self._run(cmd, timeout=timeout, codec=codec, decodeerrors=decodeerrors)

    def _run(self, cmd, *, timeout=30, codec="utf-8", decodeerrors="strict"):
        """(stdout lines, stderr lines, exit code) of `cmd` run by the user's shell."""
        try:
            result = self.client.sh(cmd, timeout=int(timeout or 0))
        except dbgclient.DbgError as error:
            raise ExecutionError("%s: %s" % (cmd, error)) from None
        stdout, stderr = _lines(result.stdout, codec, decodeerrors), _lines(result.stderr, codec, decodeerrors)
        if result.truncated:
            raise ExecutionError("%s: its output went beyond the agent's --max-output and was cut" % cmd, stdout, stderr)
        return stdout, stderr, result.exit_code

    @Driver.check_active
    def get_status(self):
        return 1 if self.client is not None else 0

    @Driver.check_active
    @step(args=["filename", "remotepath"])
    def put(self, filename, remotepath=""):
        """Copies a local file or directory to the board. A remote path that ends in /
        is a directory (made if missing) that takes the local name; an empty one is the
        home directory."""
        try:
            if remotepath.endswith("/"):
                self.client.mkdir(remotepath, parents=True)
            if not remotepath or remotepath.endswith("/"):
                remotepath += os.path.basename(os.path.normpath(filename))
            self.client.put(filename, remotepath)
        except (dbgclient.DbgError, OSError) as error:
            raise ExecutionError("put %s to %s: %s" % (filename, remotepath, error)) from None

    @Driver.check_active
    @step(args=["filename", "destination"])
    def get(self, filename, destination="."):
        """Copies a file or directory from the board (into `destination` when it is a
        local directory)."""
        if os.path.isdir(destination):
            destination = os.path.join(destination, os.path.basename(filename.rstrip("/")))
        try:
            self.client.get(filename, destination)
        except (dbgclient.DbgError, OSError) as error:
            raise ExecutionError("get %s to %s: %s" % (filename, destination, error)) from None
