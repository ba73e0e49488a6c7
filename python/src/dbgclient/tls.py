"""TLS to an agent with Python's ssl module (docs/PROTOCOL.md, section 9), and the
board key checked the ssh way: pinned by fingerprint, or recorded in dbg's own
`known_agents` file, which `dbg` and dbgclient share."""

import base64
import hashlib
import os
import socket
import ssl
from typing import Iterator, Optional, Tuple

from .errors import ConnectError, UntrustedBoard

CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"


def known_agents_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "dbg", "known_agents")


def _der_items(data: bytes) -> Iterator[Tuple[int, bytes, bytes]]:
    """(tag, the whole item, its contents) of each DER item in `data`."""
    at = 0
    while at < len(data):
        tag, length, header = data[at], data[at + 1], 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[at + 2:at + 2 + count], "big")
            header += count
        end = at + header + length
        if end > len(data):
            raise ConnectError("the board's certificate is malformed")
        yield tag, data[at:end], data[at + header:end]
        at = end


def key_fingerprint(certificate: bytes) -> str:
    """`SHA256:` and the unpadded base64 SHA-256 of the certificate's SubjectPublicKeyInfo:
    what the agent logs as its board key and `dbg info` shows."""
    try:
        _, _, body = next(_der_items(certificate))
        _, _, tbs = next(_der_items(body))
        fields = list(_der_items(tbs))
        if fields[0][0] == 0xA0:  # an explicit version
            fields = fields[1:]
        spki = fields[5][1]  # serial, signature algorithm, issuer, validity, subject, key
    except (StopIteration, IndexError):
        raise ConnectError("the board's certificate is malformed") from None
    return "SHA256:" + base64.b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")


def client_context() -> ssl.SSLContext:
    """TLS 1.2, ECDHE-ECDSA, AES-GCM or ChaCha20-Poly1305; no certificate chain: the
    board key is checked by its fingerprint (`check_trust`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def default_key_path() -> str:
    """dbg's client key (`dbg keygen`): $DBG_KEY, else client.key in dbg's configuration."""
    return os.environ.get("DBG_KEY") or os.path.join(os.path.dirname(known_agents_path()), "client.key")


def load_client_key(context: ssl.SSLContext, path: str) -> str:
    """Shows dbg's client key (`path`: its 32-byte P-256 secret, 0600) in the handshake,
    in a self-signed certificate made for it; returns the key's fingerprint (what a
    board's authorized_keys lists). Needs the `cryptography` package (`dbgclient[keys]`)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise ConnectError("key login needs the cryptography package (pip install dbgclient[keys])") from None
    import datetime
    import tempfile
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise ConnectError("cannot read the client key %s: %s" % (path, error.strerror)) from None
    with os.fdopen(descriptor, "rb") as key_file:
        if os.fstat(key_file.fileno()).st_mode & 0o077:
            raise ConnectError("the client key %s must be a file only you can read (chmod 600 %s)" % (path, path))
        secret = key_file.read()
    if len(secret) != 32:
        raise ConnectError("%s is not a dbg client key (32 bytes; dbg keygen makes one)" % path)
    try:
        key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
    except ValueError:
        raise ConnectError("%s is not a valid P-256 key" % path) from None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dbg")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as folder:  # 0700; ssl takes them from files only
        certificate_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(certificate_path, "wb") as out:
            out.write(certificate.public_bytes(serialization.Encoding.PEM))
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        context.load_cert_chain(certificate_path, key_path)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")


def wrap(sock: socket.socket, name: str, key_path: Optional[str] = None) -> Tuple[ssl.SSLSocket, str]:
    """The handshake (showing dbg's client key at `key_path`, if given); returns the TLS
    socket and the board key's fingerprint, not yet trusted."""
    context = client_context()
    if key_path is not None:
        try:
            load_client_key(context, key_path)
        except BaseException:
            sock.close()
            raise
    try:
        wrapped = context.wrap_socket(sock)
    except (ssl.SSLError, OSError) as error:
        sock.close()
        raise ConnectError("TLS handshake with %s failed: %s (does that agent take TLS?)" % (name, error)) from None
    return wrapped, key_fingerprint(wrapped.getpeercert(binary_form=True))


def check_trust(address: str, presented: str, fingerprint: Optional[str], accept_new: bool,
                known_agents: Optional[str]) -> None:
    """Raises `UntrustedBoard` unless the key is the pinned one or the one recorded for
    `address` (HOST:PORT); a new board is recorded only with `accept_new`."""
    if fingerprint is not None:
        if presented != fingerprint:
            raise UntrustedBoard("the board's key is %s, not the %s expected" % (presented, fingerprint))
        return
    path = known_agents or known_agents_path()
    recorded = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if len(fields) != 2 or not fields[1].startswith("SHA256:"):
                    raise ConnectError("%s:%d: expected HOST:PORT SHA256:FINGERPRINT" % (path, number))
                if fields[0] == address:
                    recorded = (fields[1], number)
                    break
    if recorded is not None:
        if recorded[0] != presented:
            raise UntrustedBoard("THE BOARD KEY OF %s HAS CHANGED: it is %s, %s:%d says %s. If the board was "
                                 "reflashed, remove that line." % (address, presented, path, recorded[1], recorded[0]))
        return
    if not accept_new:
        raise UntrustedBoard("%s is not in %s; its key is %s (accept_new=True records it)" % (address, path, presented))
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        out.write("%s %s\n" % (address, presented))
