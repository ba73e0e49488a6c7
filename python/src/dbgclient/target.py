"""Agent addresses, in the forms `dbg` takes (docs: README, "Targets")."""

from typing import NamedTuple, Optional

from .errors import ConnectError

DEFAULT_PORT = 5037


class Target(NamedTuple):
    """`kind` is "tcp", "tls", "unix", "serial" or "network-serial"."""
    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    baud: int = 115200
    scheme: str = ""  # network-serial: "socket://" or "rfc2217://"

    def __str__(self) -> str:
        if self.kind == "unix":
            return "unix:" + self.path
        if self.kind == "serial":
            return "serial:%s,%d" % (self.path, self.baud)
        address = "[%s]:%d" % (self.host, self.port) if ":" in self.host else "%s:%d" % (self.host, self.port)
        if self.kind == "tls":
            return "tls://" + address
        if self.kind == "network-serial":
            return "%s%s,%d" % (self.scheme, address, self.baud)
        return address


def _host_port(text: str, original: str, default_port: Optional[int]) -> "tuple[str, int]":
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConnectError("%r: missing ']' after the IPv6 address" % original)
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ConnectError("%r: expected [ADDRESS]:PORT" % original)
        port_text = rest[1:] if rest else None
    else:
        if text.count(":") > 1:
            raise ConnectError("%r: put an IPv6 address in brackets, e.g. [::1]:5037" % original)
        host, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
        if not host:
            raise ConnectError("%r: expected HOST:PORT with a port from 0 to 65535" % original)
    if port_text is None:
        if default_port is None:
            raise ConnectError("%r: a port is needed" % original)
        return host, default_port
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ConnectError("%r: expected HOST:PORT with a port from 0 to 65535" % original)
    return host, int(port_text)


def parse(text: str) -> Target:
    """`host[:port]`, `[v6]:port`, `unix:/path`, `tls://host[:port]`,
    `serial:/dev/x[,baud]`, `socket://host:port[,baud]`, `rfc2217://host:port[,baud]`."""
    if not text:
        raise ConnectError("empty agent address")
    if text.startswith("unix:"):
        if len(text) == 5:
            raise ConnectError("%r: unix: needs a socket path" % text)
        return Target("unix", path=text[5:])
    if text.startswith("serial:"):
        path, _, baud = text[7:].partition(",")
        if not path or (baud and not baud.isdigit()):
            raise ConnectError("%r: expected serial:DEVICE[,BAUD]" % text)
        return Target("serial", path=path, baud=int(baud or 115200))
    if text.startswith("tls://"):
        host, port = _host_port(text[6:], text, DEFAULT_PORT)
        return Target("tls", host=host, port=port)
    for scheme in ("socket://", "rfc2217://"):
        if text.startswith(scheme):
            address, _, baud = text[len(scheme):].partition(",")
            if baud and not baud.isdigit():
                raise ConnectError("%r: expected %sHOST:PORT[,BAUD]" % (text, scheme))
            host, port = _host_port(address, text, None)
            return Target("network-serial", host=host, port=port, baud=int(baud or 115200), scheme=scheme)
    host, port = _host_port(text, text, DEFAULT_PORT)
    return Target("tcp", host=host, port=port)
