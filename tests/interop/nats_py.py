"""The nats-py side of tests/jetstream_interop.rs.

Usage: python3 tests/interop/nats_py.py nats://127.0.0.1:PORT

Against the stream INTEROP (subjects interop.>) where natsws stored 50 messages on
interop.rs ("rs-0".."rs-49", header X-From: natsws, sequences 1..50), it:
1. reads them through the durable pull consumer "py" and acks them, checking payloads,
   headers and sequences;
2. publishes 50 messages to interop.py ("py-0".."py-49", header X-From: nats-py), checking
   each ack (stream INTEROP, sequences 51..100);
3. creates the durable "shared" on interop.py and acks the first 25 (synchronously); natsws
   then reads the other 25 through the same durable.
Prints one JSON line and exits 0, or raises (exit 1). Needs `python3 -m pip install nats-py`.
"""

import asyncio
import json
import sys

import nats


async def fetch_exactly(sub, n):
    got = []
    while len(got) < n:
        for m in await sub.fetch(n - len(got), timeout=5):
            got.append(m)
    return got


async def main(url):
    nc = await nats.connect(url, connect_timeout=5)
    js = nc.jetstream(timeout=5)

    py = await js.pull_subscribe("interop.rs", durable="py", stream="INTEROP")
    msgs = await fetch_exactly(py, 50)
    for i, m in enumerate(msgs):
        assert m.data == f"rs-{i}".encode(), m.data
        assert m.headers and m.headers.get("X-From") == "natsws", m.headers
        assert m.metadata.sequence.stream == i + 1, m.metadata
        assert m.metadata.stream == "INTEROP"
        await m.ack()

    for i in range(50):
        ack = await js.publish(
            "interop.py", f"py-{i}".encode(), headers={"X-From": "nats-py"}
        )
        assert ack.stream == "INTEROP" and ack.seq == 51 + i, ack

    shared = await js.pull_subscribe("interop.py", durable="shared", stream="INTEROP")
    first = await fetch_exactly(shared, 25)
    for i, m in enumerate(first):
        assert m.data == f"py-{i}".encode(), m.data
        await m.ack_sync(timeout=5)

    await nc.flush(timeout=5)
    await nc.close()
    print(json.dumps({"read": len(msgs), "published": 50, "shared_acked": len(first)}))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=60))
