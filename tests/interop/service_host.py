"""A service run by nats-py's `nats.micro` (ADR-32), for natsws's client to find
(tests/service.rs runs it).

Usage: service_host.py URL NAME
Starts service NAME (version 0.4.2) with the endpoint `upper` on subject `py.upper`, which
upper-cases the payload, or answers error 422 "empty" to an empty one. Prints one JSON line
{"id": ...} once it is subscribed, then serves until its stdin closes (or 60 s pass).
"""

import asyncio
import json
import sys

import nats
import nats.micro


async def main(url, name):
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)

    async def upper(req):
        if not req.data:
            await req.respond_error("422", "empty")
        else:
            await req.respond(req.data.upper())

    svc = await nats.micro.add_service(
        nc, name=name, version="0.4.2", description="nats-py upper", metadata={"lang": "python"}
    )
    group = svc.add_group(name="py")
    await group.add_endpoint(name="upper", handler=upper, metadata={"kind": "text"})
    await nc.flush()
    print(json.dumps({"id": svc.id}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), timeout=60)
    finally:
        await svc.stop()
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
