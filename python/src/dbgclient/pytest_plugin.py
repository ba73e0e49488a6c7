"""pytest plugin (entry point `pytest11`): a `dbg` fixture, a logged-in `dbgclient.Client`
for the board under test, configured on the command line:

    DBG_PASSWORD=secret pytest --dbg-target 192.168.7.2 --dbg-user root tests/

The password comes from the environment (`DBG_PASSWORD`), never the command line. Over
`tls://`, `--dbg-fingerprint` pins the board key, else dbg's known_agents must list it
(`--dbg-accept-new` records a new board).
"""

import os

import pytest

import dbgclient


def pytest_addoption(parser):
    group = parser.getgroup("dbg", "dbg board agent (dbgclient)")
    group.addoption("--dbg-target", default=os.environ.get("DBG_HOST"),
                    help="the board's agent: host[:port], [v6]:port, unix:/path, tls://host[:port] (default: $DBG_HOST)")
    group.addoption("--dbg-user", default=os.environ.get("DBG_USER", "root"),
                    help="the user to log in as (default: $DBG_USER, else root); the password is $DBG_PASSWORD")
    group.addoption("--dbg-fingerprint", default=None, help="TLS: the board key's SHA256:... fingerprint")
    group.addoption("--dbg-accept-new", action="store_true", help="TLS: record a board not in known_agents yet")
    group.addoption("--dbg-timeout", type=float, default=30.0, help="seconds any request may take (default 30)")


@pytest.fixture(scope="session")
def dbg(request):
    """The board, logged in once for the whole session."""
    option = request.config.getoption
    target = option("--dbg-target")
    if not target:
        pytest.fail("the dbg fixture needs --dbg-target (or DBG_HOST)", pytrace=False)
    password = os.environ.get("DBG_PASSWORD")
    if password is None:
        pytest.fail("the dbg fixture needs the password in DBG_PASSWORD", pytrace=False)
    client = dbgclient.connect(target, user=option("--dbg-user"), password=password, timeout=option("--dbg-timeout"),
                               fingerprint=option("--dbg-fingerprint"), accept_new=option("--dbg-accept-new"))
    yield client
    client.close()
