"""The nats-py side of tests/kv_os_interop.rs.

Usage: python3 tests/interop/kv_os_py.py nats://127.0.0.1:PORT

natsws has created the KV bucket "ikv" with "from.rs" = "hello from natsws" (revision 1) and
the object store "ios" with the object "a?" (5000 bytes, byte i = i*7 % 251, chunks of 1000;
its name needs padding in base64url). This script:
1. reads "from.rs" and watches "from.>": the entry, then the end-of-initial-data marker;
2. puts "from.py" = "hello from nats-py" and sees it in its own watch;
3. reads "a?" back (nats-py checks the digest) and checks bytes and digest itself;
4. puts the object "py?>" (300 KiB, byte i = i*13 % 253, nats-py's default 128 KiB chunks:
   3 chunks; name padded in base64url) for natsws to read.
Prints one JSON line and exits 0, or raises (exit 1). Needs `python3 -m pip install nats-py`.
"""

import asyncio
import base64
import hashlib
import json
import sys

import nats


def pattern(n, mul, mod):
    return bytes((i * mul) % mod for i in range(n))


def digest(data):
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


async def main(url):
    nc = await nats.connect(url, connect_timeout=5)
    js = nc.jetstream(timeout=5)

    kv = await js.key_value("ikv")
    e = await kv.get("from.rs")
    assert e.value == b"hello from natsws" and e.revision == 1, (e.value, e.revision)
    w = await kv.watch("from.>")
    first = await w.updates(timeout=5)
    assert first is not None and first.key == "from.rs" and first.value == b"hello from natsws", first
    marker = await w.updates(timeout=5)
    assert marker is None, marker
    rev = await kv.put("from.py", b"hello from nats-py")
    seen = await w.updates(timeout=5)
    assert seen.key == "from.py" and seen.revision == rev, seen
    await w.stop()

    obs = await js.object_store("ios")
    res = await obs.get("a?")
    want = pattern(5000, 7, 251)
    assert res.data == want, len(res.data)
    assert res.info.digest == digest(want), (res.info.digest, digest(want))
    assert res.info.chunks == 5 and res.info.size == 5000, res.info

    data = pattern(300 * 1024, 13, 253)
    info = await obs.put("py?>", data)
    assert info.chunks == 3, info

    print(json.dumps({"py_revision": rev, "py_digest": info.digest, "py_chunks": info.chunks}))
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
