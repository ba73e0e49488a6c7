#!/usr/bin/env python3
"""Sutra over TLS with Python's own ssl module (OpenSSL) and the standard library only: a
client independent of dbg's. It checks the agent's certificate by the fingerprint the agent
logged (SHA-256 of the certificate's SubjectPublicKeyInfo, found by a DER walk of its own),
then speaks Hello, Ping, Authenticate and RunCommand. Exits non-zero with a message at the
first difference.

    tls_sutra.py HOST PORT FINGERPRINT USER PASSWORD    the scenario above
    tls_sutra.py HOST PORT FINGERPRINT flood N          N handshakes at once; prints how many
                                                        completed and how many were refused
    tls_sutra.py hello                                  prints a ClientHello (hex), for tests
                                                        that cut it short or send it slowly
"""
import base64
import hashlib
import socket
import ssl
import struct
import sys
import threading


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def der_items(data):
    """The (tag, whole item, contents) of each DER item in `data`, in order."""
    position = 0
    while position < len(data):
        tag = data[position]
        length = data[position + 1]
        header = 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[position + 2:position + 2 + count], "big")
            header += count
        end = position + header + length
        yield tag, data[position:end], data[position + header:end]
        position = end


def key_fingerprint(certificate):
    """SHA256:base64 (unpadded) of the certificate's SubjectPublicKeyInfo."""
    _tag, _whole, body = next(der_items(certificate))
    _tag, _whole, tbs = next(der_items(body))
    fields = list(der_items(tbs))
    if fields[0][0] == 0xA0:  # an explicit version (v3); ours is v1
        fields = fields[1:]
    # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
    spki = fields[5][1]
    return "SHA256:" + base64.b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")


def string(value):
    return struct.pack("<I", len(value)) + value


def frame(service, op, rid, payload):
    return b"S2" + struct.pack("<BBIHHII", 1, 0, service, op, 0, rid, len(payload)) + payload


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        check(chunk, "the agent closed the TLS connection")
        data += chunk
    return data


def call(sock, service, op, payload, rid):
    sock.sendall(frame(service, op, rid, payload))
    while True:
        header = read_exactly(sock, 20)
        check(header[:2] == b"S2", "not a Sutra frame: %r" % header)
        kind, _flags, _service, _op, _reserved, got, length = struct.unpack("<BBIHHII", header[2:])
        body = read_exactly(sock, length)
        if got == rid:
            return kind, body


def connect(host, port):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust comes from the pinned fingerprint below
    raw = socket.create_connection((host, port), timeout=30)
    return context.wrap_socket(raw)


def scenario(host, port, fingerprint, user, password):
    sock = connect(host, port)
    check(sock.version() == "TLSv1.2", "negotiated %s, not TLS 1.2" % sock.version())
    name, _version, _bits = sock.cipher()
    check(name.startswith("ECDHE-ECDSA-") and ("GCM" in name or "CHACHA20" in name), "cipher " + name)
    presented = key_fingerprint(sock.getpeercert(binary_form=True))
    check(presented == fingerprint, "the board presents %s, the agent logged %s" % (presented, fingerprint))

    kind, body = call(sock, 0, 1, struct.pack("<II", 1, 0) + string(b"tls_sutra.py"), 1)
    check(kind == 2, "Hello failed: %r" % body)
    version, _max_frame, agent_length = struct.unpack("<III", body[:12])
    check(version == 1 and body[12:12 + agent_length].startswith(b"dbgd "), "Hello answer %r" % body)

    kind, body = call(sock, 0, 2, string(b"\x00\x01tls\xff"), 2)
    check(kind == 2 and body == string(b"\x00\x01tls\xff"), "Ping echo %r" % body)

    kind, body = call(sock, 0x60, 0x0601, string(user.encode()) + string(password.encode()), 3)
    check(kind == 2, "Authenticate failed: %r" % body)
    token = body[4:4 + struct.unpack("<I", body[:4])[0]]

    request = string(token) + string(b"sh -c 'printf tls-ok; printf err >&2'") + string(b"") + struct.pack("<i", 10)
    kind, body = call(sock, 0x60, 0x0610, request, 4)
    check(kind == 2, "RunCommand failed: %r" % body)
    exit_code = struct.unpack("<q", body[:8])[0]
    out_length = struct.unpack("<I", body[8:12])[0]
    stdout = body[12:12 + out_length]
    err_length = struct.unpack("<I", body[12 + out_length:16 + out_length])[0]
    stderr = body[16 + out_length:16 + out_length + err_length]
    check((exit_code, stdout, stderr) == (0, b"tls-ok", b"err"), "RunCommand gave %r" % ((exit_code, stdout, stderr),))
    sock.close()
    print("ok")


def flood(host, port, fingerprint, count):
    """`count` handshakes at once; each that completes checks the key and pings."""
    results = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def one():
        try:
            start.wait(30)
            sock = connect(host, port)
            ok = key_fingerprint(sock.getpeercert(binary_form=True)) == fingerprint
            outcome = "completed" if ok else "wrong key"
            sock.close()
        except (OSError, ssl.SSLError, threading.BrokenBarrierError):
            outcome = "refused"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    check(len(results) == count, "%d of %d handshakes did not end within 60 s" % (count - len(results), count))
    check("wrong key" not in results, "a handshake saw another key")
    print("completed %d refused %d" % (results.count("completed"), results.count("refused")))


def client_hello():
    """The first flight of Python's TLS client, taken from memory instead of a socket."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context.wrap_bio(incoming, outgoing)
    try:
        connection.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main():
    if sys.argv[1] == "hello":
        print(client_hello().hex())
        return
    host, port, fingerprint = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if sys.argv[4] == "flood":
        flood(host, port, fingerprint, int(sys.argv[5]))
    else:
        scenario(host, port, fingerprint, sys.argv[4], sys.argv[5])


if __name__ == "__main__":
    main()
