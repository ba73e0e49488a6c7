"""dbgclient: a pure-Python client for dbgd (docs/PROTOCOL.md).

    import dbgclient
    with dbgclient.connect("192.168.7.2", user="root", password="...") as board:
        print(board.run(["uname", "-a"]).check().stdout.decode())
        board.put("app.bin", "/usr/local/bin/app")
"""

import os
from typing import Optional

from .client import Connection, open_connection
from .messages import AuthRequest
from .errors import (BadRequest, Busy, CommandError, ConnectError, DbgError, Denied, Exists, Internal, IOFailure,
                     NotFound, ProtocolError, RemoteError, Timeout, TooLarge, TransportError, TruncatedOutput,
                     Unauthenticated, Unsupported, UntrustedBoard)
from .session import Client, ExecResult, FileInfo
from .target import DEFAULT_PORT, Target, parse as parse_target

__version__ = "0.1.0"


def connect(target: str, user: str = "root", password: Optional[str] = None, key: Optional[str] = None,
            timeout: Optional[float] = 30.0, fingerprint: Optional[str] = None, accept_new: bool = False,
            known_agents: Optional[str] = None) -> Client:
    """Connects to the agent at `target` (the forms `dbg` takes: `host[:port]`,
    `[v6]:port`, `unix:/path`, `tls://host[:port]`), says Hello and logs `user` in with
    `password`. Over TLS the board's key is checked as `dbg` does: `fingerprint` pins it,
    else dbg's `known_agents` file must list it (`accept_new` records a new board); `key`
    (the path of dbg's client key, e.g. `dbgclient.tls.default_key_path()`) logs in
    without a password where the board lists it, else the password follows."""
    if key is None and password is None:
        raise ConnectError("a password (or, over TLS, a client key) is needed to log in")
    connection = open_connection(target, timeout, fingerprint=fingerprint, accept_new=accept_new,
                                 known_agents=known_agents, key=os.path.expanduser(key) if key else None)
    try:
        connection.hello()
        session = None
        if key is not None:
            try:  # an empty password asks for key login (docs/PROTOCOL.md, section 9)
                session = connection.dbg("Authenticate", AuthRequest(username=user, password=""))
            except Denied:
                if password is None:
                    raise
        if session is None:
            session = connection.dbg("Authenticate", AuthRequest(username=user, password=password))
    except BaseException:
        connection.close()
        raise
    return Client(connection, session)


__all__ = ["connect", "open_connection", "Client", "Connection", "ExecResult", "FileInfo", "Target", "parse_target",
           "DEFAULT_PORT", "DbgError", "ConnectError", "ProtocolError", "TransportError", "RemoteError", "BadRequest",
           "Unauthenticated", "Denied", "NotFound", "Exists", "TooLarge", "Busy", "Timeout", "Unsupported",
           "Internal", "IOFailure", "CommandError", "TruncatedOutput", "UntrustedBoard"]
