"""nats-py as a client of a natsws service (tests/service.rs runs it).

Usage: service_client.py URL NAME ID
Discovers service NAME by PING/INFO/STATS (by name and by id), calls its `echo` endpoint
(`svc.echo`) and its error path, checks every document, and prints one JSON line with what
it saw. Exits non-zero on the first failed check.
"""

import asyncio
import json
import sys

import nats


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def main(url, name, sid):
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        seen = {}
        for verb, typ in (("PING", "ping"), ("INFO", "info"), ("STATS", "stats")):
            for subj in (f"$SRV.{verb}.{name}", f"$SRV.{verb}.{name}.{sid}"):
                msg = await nc.request(subj, b"", timeout=5)
                doc = json.loads(msg.data)
                check(doc["type"] == f"io.nats.micro.v1.{typ}_response", f"{subj}: type {doc['type']}")
                check(doc["name"] == name and doc["id"] == sid, f"{subj}: identity {doc}")
                seen[verb] = doc
        info = seen["INFO"]
        subjects = [e["subject"] for e in info["endpoints"]]
        check("svc.echo" in subjects, f"INFO endpoints {subjects}")
        reply = await nc.request("svc.echo", b"from python", timeout=5)
        check(reply.data == b"from python", f"echo answered {reply.data!r}")
        check(not reply.headers or "Nats-Service-Error" not in reply.headers, "echo had an error header")
        bad = await nc.request("svc.echo", b"", timeout=5)
        headers = bad.headers or {}
        check(headers.get("Nats-Service-Error-Code") == "400", f"error code {headers}")
        check(headers.get("Nats-Service-Error") == "empty request", f"error text {headers}")
        stats = json.loads((await nc.request(f"$SRV.STATS.{name}.{sid}", b"", timeout=5)).data)
        echo = [e for e in stats["endpoints"] if e["subject"] == "svc.echo"][0]
        check(echo["num_requests"] == 2 and echo["num_errors"] == 1, f"stats {echo}")
        check(echo["last_error"] == "400:empty request", f"last_error {echo['last_error']!r}")
        print(json.dumps({
            "ok": True,
            "version": info["version"],
            "description": info["description"],
            "endpoints": subjects,
            "num_requests": echo["num_requests"],
        }), flush=True)
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
