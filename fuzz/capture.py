#!/usr/bin/env python3
"""Captures real nats-server output for the parse fuzz corpus (fuzz/corpus/parse/).

Starts its own nats-server processes on free loopback ports (nats-server must be on PATH),
runs one scenario per connection speaking the raw protocol, and saves every byte the server
sent, one file per scenario. Standard library only. Usage: python3 fuzz/capture.py
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "parse")
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1%s}\r\n'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(conf=None):
    port = free_port()
    args = ["nats-server", "-a", "127.0.0.1", "-p", str(port)]
    if conf:
        args += ["-c", conf]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nats-server did not start")


def read_idle(sock, idle=0.3, total=5.0):
    """Everything the server sends until it is quiet for `idle` seconds or closes."""
    data = b""
    end = time.time() + total
    sock.settimeout(idle)
    while time.time() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def hpub(subject, headers, payload, reply=None):
    block = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in headers) + b"\r\n"
    r = b" " + reply if reply else b""
    return b"HPUB %s%s %d %d\r\n%s%s\r\n" % (subject, r, len(block), len(block) + len(payload), block, payload)


def scenario(port, name, steps, creds=b""):
    """steps: list of bytes to send; the server's output after each is collected."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    got = read_idle(sock)  # INFO
    for step in [CONNECT % creds + b"PING\r\n"] + steps:
        try:
            sock.sendall(step)
        except OSError:
            break
        got += read_idle(sock)
    sock.close()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(got)
    print(f"{name}: {len(got)} bytes", file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    procs = []
    try:
        plain, port = start_server()
        procs.append(plain)
        scenario(port, "basic", [
            b"SUB foo 1\r\nSUB foo.* q 2\r\nSUB > 3\r\n",
            b"PUB foo 5\r\nhello\r\nPUB foo _INBOX.r.1 0\r\n\r\npub foo.bar 11\r\nMSG\r\nPING\r\n\r\n",
            hpub(b"foo", [(b"A", b"1"), (b"a", b"2"), (b"Nats-Msg-Id", b"x y"), (b"A", b"3")], b"payload", b"rep.1"),
            hpub(b"foo.bar", [], b""),
            b"PING\r\n",
        ])
        scenario(port, "no_responders", [
            b"SUB _INBOX.abc.* 1\r\n",
            b"PUB svc.none _INBOX.abc.1 0\r\n\r\n",
            hpub(b"svc.none2", [(b"X", b"y")], b"req", b"_INBOX.abc.2"),
        ])
        scenario(port, "max_payload", [b"PUB foo 2000000\r\n"])
        scenario(port, "unknown_op", [b"FOO bar\r\n"])
        scenario(port, "bad_terminator", [b"PUB foo 1\r\nxyz\r\n"])
        scenario(port, "invalid_subject", [b"SUB foo..bar 1\r\nPING\r\n"])
        scenario(port, "verbose", [b'CONNECT {"verbose":true,"headers":true}\r\nPING\r\nSUB x 1\r\nPUB x 1\r\nz\r\n'])
        big = bytes(range(256)) * 400  # 100 KiB
        scenario(port, "big_payload", [b"SUB big 7\r\n", b"PUB big %d\r\n%s\r\n" % (len(big), big), b"PING\r\n"])
        many = b"SUB m.> 9\r\n" + b"".join(b"PUB m.%d %d\r\n%s\r\n" % (i, i % 50, b"x" * (i % 50)) for i in range(300))
        scenario(port, "many_small", [many, b"PING\r\n"])

        conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        conf.write("""
authorization {
  users = [
    { user: alice, password: secret,
      permissions: { publish: { allow: ["allowed.>", "_INBOX.>"] },
                     subscribe: { allow: ["allowed.>", "_INBOX.>"] } } }
  ]
}
""")
        conf.close()
        auth, aport = start_server(conf.name)
        procs.append(auth)
        alice = b',"user":"alice","pass":"secret"'
        scenario(aport, "permissions", [
            b"PUB denied.x 2\r\nhi\r\n",
            b"SUB denied.y 1\r\nSUB denied.z q1 2\r\n",
            b"PUB allowed.x _R_.reserved 0\r\n\r\n",
            b"SUB allowed.> 3\r\nPUB allowed.x 2\r\nok\r\nPING\r\n",
        ], alice)
        scenario(aport, "auth_failed", [], b',"user":"alice","pass":"wrong"')
        os.unlink(conf.name)
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
