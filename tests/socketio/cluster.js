// A socket.io 4 cluster for tests/socketio.rs: two socket.io servers sharing NATS through
// @mickl/socket.io-nats-adapter, and socket.io-client clients joined to rooms.
//
// Usage: node cluster.js NATS_URL
//
// Everything it has to say is one JSON object per line on stdout:
//   {"ready":true,"ids":{"a":"<socket id>",...}}  once every client is connected and in its rooms
//   {"client":"a","event":"e1","args":[...]}      every event a client receives (a binary
//                                                 argument as {"binary":[bytes...]})
//   {"done":N}                                    a command from stdin was carried out
//   {"encoded":[...]}                             answer to an encodeURI command
//   {"error":"..."}                               then it exits with status 1
// Commands come as JSON lines on stdin (see `command` below); the end of stdin ends it.
"use strict";

const http = require("http");
const readline = require("readline");
const { connect } = require("nats");
const { Server } = require("socket.io");
const { io: client } = require("socket.io-client");
const { createAdapter } = require("@mickl/socket.io-nats-adapter");

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (err) => {
  out({ error: String((err && err.stack) || err) });
  process.exit(1);
};
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);

// Which server each client connects to, its namespace and the rooms it joins.
const CLIENTS = [
  { name: "a", server: 0, nsp: "/", rooms: ["lobby"] },
  { name: "b", server: 1, nsp: "/", rooms: ["lobby", "vip"] },
  { name: "c", server: 0, nsp: "/", rooms: [] },
  { name: "d", server: 1, nsp: "/chat", rooms: ["lobby"] },
  { name: "e", server: 0, nsp: "/chat", rooms: [] },
];

async function startServer(natsUrl) {
  const nc = await connect({ servers: natsUrl, name: "socket.io-test" });
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(nc) });
  const sockets = new Map(); // client name -> server-side socket
  const onConnection = (socket) => {
    const { name, rooms } = socket.handshake.query;
    sockets.set(name, socket);
    if (rooms) socket.join(rooms.split(","));
    socket.emit("joined");
  };
  io.on("connection", onConnection);
  io.of("/chat").on("connection", onConnection);
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  return { nc, io, sockets, port: httpServer.address().port };
}

// A binary argument (socket.io-client gives Buffer, ArrayBuffer or a typed array) as
// {"binary":[bytes...]}, so the test can tell it from JSON that merely looks like a Buffer.
function showBinary(a) {
  if (a instanceof ArrayBuffer) return { binary: Array.from(new Uint8Array(a)) };
  if (ArrayBuffer.isView(a)) {
    return { binary: Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) };
  }
  return a;
}

function startClients(servers) {
  return Promise.all(
    CLIENTS.map(
      (c) =>
        new Promise((resolve, reject) => {
          const url = `http://127.0.0.1:${servers[c.server].port}${c.nsp}`;
          const s = client(url, {
            transports: ["websocket"],
            forceNew: true,
            reconnection: false,
            query: { name: c.name, rooms: c.rooms.join(",") },
          });
          s.on("connect_error", reject);
          s.once("joined", () => resolve([c.name, s.id]));
          s.onAny((event, ...args) => {
            if (event !== "joined") out({ client: c.name, event, args: args.map(showBinary) });
          });
        })
    )
  );
}

// One command from the test.
//  {"op":"broadcast","id":N,"server":0,"nsp":"/","to":[...],"except":[...],
//   "volatile":true,"compress":false,"event":"e","args":[...],"bytes":[1,2]}
//                                  io.of(nsp).to(..).emit(..), with Buffer.from(bytes) last
//  {"op":"socket_broadcast","id":N,"client":"a","event":"e","args":[...]}
//                                            socket.broadcast.emit(..) on client a's socket
//  {"op":"encodeURI","strings":[...]}
function command(servers, cmd) {
  switch (cmd.op) {
    case "broadcast": {
      let op = servers[cmd.server].io.of(cmd.nsp);
      for (const r of cmd.to || []) op = op.to(r);
      for (const r of cmd.except || []) op = op.except(r);
      if (cmd.volatile) op = op.volatile;
      if (cmd.compress !== undefined) op = op.compress(cmd.compress);
      const args = cmd.bytes ? [...cmd.args, Buffer.from(cmd.bytes)] : cmd.args;
      op.emit(cmd.event, ...args);
      return out({ done: cmd.id });
    }
    case "socket_broadcast": {
      const c = CLIENTS.find((x) => x.name === cmd.client);
      const socket = servers[c.server].sockets.get(c.name);
      socket.broadcast.emit(cmd.event, ...cmd.args);
      return out({ done: cmd.id });
    }
    case "encodeURI":
      return out({ encoded: cmd.strings.map((s) => encodeURI(s)) });
    default:
      return fail(`unknown command ${JSON.stringify(cmd)}`);
  }
}

async function main() {
  const natsUrl = process.argv[2];
  if (!natsUrl) return fail("usage: node cluster.js NATS_URL");
  const servers = [await startServer(natsUrl), await startServer(natsUrl)];
  // Both adapters subscribed before the test publishes anything.
  await Promise.all(servers.map((s) => s.nc.flush()));
  const ids = Object.fromEntries(await startClients(servers));
  out({ ready: true, ids });
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", (line) => command(servers, JSON.parse(line)));
  lines.on("close", () => process.exit(0));
}

main().catch(fail);
