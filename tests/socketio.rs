//! socket.io rooms over NATS against real parts: two socket.io 4 servers sharing a real
//! nats-server through `@mickl/socket.io-nats-adapter`, with `socket.io-client` clients in
//! rooms (tests/socketio/cluster.js, packages installed by `.ci/run` with `npm ci`), and the
//! socket.io-nats 0.1 dialect against the bytes its documented format gives.
//!
//! Node.js and the packages are required: without them these tests fail, they do not skip.
#![cfg(feature = "socketio")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use natsws::socketio::{encode_uri, Broadcast, Dialect, Emitter, EmitterOptions, Observer};
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind};
use serde_json::{json, Value};

use common::{Ctx, WAIT};

/// How long node gets to load socket.io, start two servers and connect five clients.
const NODE_READY: Duration = Duration::from_secs(30);

/// Events per client, in order: (event, args).
type Received = BTreeMap<String, Vec<(String, Value)>>;

/// The node cluster of cluster.js; killed (and waited for) on drop.
struct Cluster {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Socket id of each client ("a".."e").
    ids: BTreeMap<String, String>,
    /// Events each client received.
    got: Received,
    next_id: u64,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

impl Cluster {
    /// Starts cluster.js against `nats_url` and waits for it to say it is ready.
    fn start(nats_url: &str) -> Cluster {
        let dir = interop_dir();
        assert!(
            dir.join("node_modules/@mickl/socket.io-nats-adapter")
                .is_dir(),
            "the node packages of {} are not installed: run `npm ci` there (.ci/run does)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("cluster.js")
            .arg(nats_url)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting node (Node.js is required; .ci/run checks): {e}"));
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({ "error": format!("not JSON: {line}") }));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("cluster.js: {line}");
            }
        });
        let mut c = Cluster {
            stdin: child.stdin.take(),
            child,
            lines,
            ids: BTreeMap::new(),
            got: BTreeMap::new(),
            next_id: 0,
        };
        let ready = c.wait_line(NODE_READY, |v| v.get("ready").is_some());
        for (name, id) in ready["ids"].as_object().expect("ids") {
            c.ids
                .insert(name.clone(), id.as_str().expect("an id").to_owned());
        }
        assert_eq!(c.ids.len(), 5, "{ready}");
        c
    }

    fn id(&self, client: &str) -> &str {
        &self.ids[client]
    }

    /// Reads lines (recording client events) until `pick` accepts one; bounded by `limit`.
    fn wait_line(&mut self, limit: Duration, pick: impl FnMut(&Value) -> bool) -> Value {
        self.wait_line_until(Instant::now() + limit, pick)
    }

    fn wait_line_until(
        &mut self,
        deadline: Instant,
        mut pick: impl FnMut(&Value) -> bool,
    ) -> Value {
        loop {
            let v = match self.lines.recv_deadline(deadline) {
                Ok(v) => v,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("cluster.js: what was awaited did not come in time")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("cluster.js ended: {:?}", self.child.wait())
                }
            };
            if let Some(e) = v.get("error") {
                panic!("cluster.js failed: {}", e.as_str().unwrap_or_default());
            }
            if let Some(client) = v.get("client").and_then(Value::as_str) {
                let event = v["event"].as_str().expect("event").to_owned();
                self.got
                    .entry(client.to_owned())
                    .or_default()
                    .push((event, v["args"].clone()));
            }
            if pick(&v) {
                return v;
            }
        }
    }

    /// Sends a command to cluster.js and waits until it is carried out.
    fn command(&mut self, mut cmd: Value) {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        self.send(&cmd);
        self.wait_line(WAIT, |v| v.get("done") == Some(&json!(id)));
    }

    fn send(&mut self, cmd: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .expect("writing to cluster.js");
    }

    /// Reads lines until each of `clients` has received `event`.
    fn wait_all_got(&mut self, clients: &[&str], event: &str) {
        let has = |got: &Received, c: &str| {
            got.get(c)
                .is_some_and(|v| v.iter().any(|(e, _)| e == event))
        };
        let deadline = Instant::now() + WAIT;
        while !clients.iter().all(|c| has(&self.got, c)) {
            self.wait_line_until(deadline, |_| true);
        }
    }

    /// The events each client received, with `fence` and what came after it removed; then
    /// forgets them.
    fn take_until(&mut self, fence: &str) -> Received {
        let mut all = std::mem::take(&mut self.got);
        for v in all.values_mut() {
            if let Some(i) = v.iter().position(|(e, _)| e == fence) {
                v.truncate(i);
            }
        }
        all.retain(|_, v| !v.is_empty());
        all
    }
}

/// A fence: one event every client receives; once all have it, everything sent to them over
/// the same path before has arrived (one publisher, one NATS connection, one socket per client:
/// all in order).
fn fence(io: &Emitter, c: &mut Cluster, name: &str) {
    io.emit(name, ()).unwrap();
    io.of("/chat").emit(name, ()).unwrap();
    c.wait_all_got(&["a", "b", "c", "d", "e"], name);
}

fn expect(list: &[(&str, &[(&str, Value)])]) -> Received {
    list.iter()
        .map(|(client, evs)| {
            (
                client.to_string(),
                evs.iter()
                    .map(|(e, a)| (e.to_string(), a.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn emitter_reaches_exactly_the_right_sockets(t: Transport) {
    let ctx = Ctx::new(t);
    let mut c = Cluster::start(&ctx.server.tcp_url());
    let nc = ctx.connect();
    let io = Emitter::new(&nc, EmitterOptions::new(Dialect::Mickl)).unwrap();
    let chat = io.of("chat");
    assert_eq!(chat.namespace(), "/chat");
    let (a, c_id) = (c.id("a").to_owned(), c.id("c").to_owned());

    // Clients: a ("/", lobby), b ("/", lobby + vip), c ("/"), d ("/chat", lobby), e ("/chat");
    // a, c and e on one socket.io server, b and d on the other.
    io.emit("all", ("hello", 1)).unwrap();
    io.to("lobby")
        .emit("lobby", json!({"k": [1, null, "é"]}))
        .unwrap();
    io.to("lobby")
        .except("vip")
        .emit("lobby-not-vip", ())
        .unwrap();
    chat.emit("chat-all", [true]).unwrap();
    chat.to("lobby").emit("chat-lobby", "x").unwrap();
    io.to("vip")
        .in_("nobody")
        .emit("vip-or-nobody", ())
        .unwrap();
    io.except(a.as_str()).emit("not-a", ()).unwrap();
    io.to(c_id.as_str())
        .compress(false)
        .emit("only-c", (vec![1, 2],))
        .unwrap();
    io.to("nobody").emit("nobody", ()).unwrap();
    chat.except("lobby").emit("chat-not-lobby", ()).unwrap();
    fence(&io, &mut c, "end");

    let got = c.take_until("end");
    let none = json!([]);
    let want = expect(&[
        (
            "a",
            &[
                ("all", json!(["hello", 1])),
                ("lobby", json!([{"k": [1, null, "é"]}])),
                ("lobby-not-vip", none.clone()),
            ],
        ),
        (
            "b",
            &[
                ("all", json!(["hello", 1])),
                ("lobby", json!([{"k": [1, null, "é"]}])),
                ("vip-or-nobody", none.clone()),
                ("not-a", none.clone()),
            ],
        ),
        (
            "c",
            &[
                ("all", json!(["hello", 1])),
                ("not-a", none.clone()),
                ("only-c", json!([[1, 2]])),
            ],
        ),
        (
            "d",
            &[("chat-all", json!([true])), ("chat-lobby", json!(["x"]))],
        ),
        (
            "e",
            &[
                ("chat-all", json!([true])),
                ("chat-not-lobby", none.clone()),
            ],
        ),
    ]);
    assert_eq!(got, want);
    nc.close().unwrap();
}

fn server_broadcasts_decode_exactly(t: Transport) {
    let ctx = Ctx::new(t);
    let mut c = Cluster::start(&ctx.server.tcp_url());
    let nc = ctx.connect();
    let watch = Observer::new(&nc, &EmitterOptions::new(Dialect::Mickl)).unwrap();
    nc.flush().unwrap();
    let io = Emitter::new(&nc, EmitterOptions::new(Dialect::Mickl)).unwrap();

    // io.of("/chat").to("lobby").to("x").except("vip").volatile.compress(false).emit(...) on
    // the first socket.io server.
    let args = json!([1, "two", {"three": [3.5]}, null, true]);
    c.command(json!({
        "op": "broadcast", "server": 0, "nsp": "/chat", "to": ["lobby", "x"],
        "except": ["vip"], "volatile": true, "compress": false, "event": "news", "args": args,
    }));
    let b = watch.next_timeout(WAIT).unwrap();
    assert_eq!(b.dialect, Dialect::Mickl);
    assert_eq!(b.uid.len(), 6, "a socket.io-nats-adapter uid: {:?}", b.uid);
    assert_eq!(b.namespace, "/chat");
    assert_eq!(b.rooms, ["lobby", "x"]);
    assert_eq!(b.except, ["vip"]);
    assert_eq!(b.event, "news");
    assert_eq!(Value::Array(b.args.clone()), args);
    assert!(b.flags.volatile && !b.binary);
    assert_eq!(b.flags.compress, Some(false));
    assert!(!b.flags.local && !b.flags.broadcast && b.flags.timeout.is_none());
    assert!(b.flags.other.is_empty(), "{:?}", b.flags);
    let chat_uid = b.uid.clone();

    // socket.broadcast.emit(...) on client a's socket: everyone in "/" but a.
    c.command(json!({
        "op": "socket_broadcast", "client": "a", "event": "from-a", "args": ["hi"],
    }));
    let b = watch.next_timeout(WAIT).unwrap();
    assert_eq!(b.namespace, "/");
    assert_eq!(b.except, [c.id("a")]);
    assert!(b.rooms.is_empty() && b.flags.is_empty());
    assert_eq!(
        (b.event.as_str(), b.args.as_slice()),
        ("from-a", &[json!("hi")][..])
    );
    assert_eq!(b.uid.len(), 6);
    assert_ne!(b.uid, chat_uid, "one adapter (and uid) per namespace");
    // b is on the other server: wait for it there before that server emits on its own.
    c.wait_all_got(&["b", "c"], "from-a");

    // A binary argument, from the second server to "lobby": JSON turns the Buffer into
    // {"type":"Buffer","data":[...]}; the decoder says so and does not pretend otherwise. Its
    // own client b gets real bytes, a (on the other server, through NATS) the JSON object.
    c.command(json!({
        "op": "broadcast", "server": 1, "nsp": "/", "to": ["lobby"], "event": "bin",
        "args": ["file"], "bytes": [0, 1, 255],
    }));
    let b = watch.next_timeout(WAIT).unwrap();
    let as_json = json!({"type": "Buffer", "data": [0, 1, 255]});
    assert_eq!(b.args, [json!("file"), as_json.clone()]);
    assert!(
        !b.binary,
        "socket.io 4 marks binary only when encoding for clients"
    );

    // Nothing else was published; the clients (through NATS for b and d) got what the
    // servers sent.
    fence(&io, &mut c, "end");
    nc.flush().unwrap(); // the server has sent the fences to `watch` too
    let mut rest = Vec::new();
    while let Some(b) = watch.try_next() {
        rest.push(b.unwrap());
    }
    assert_eq!(rest.len(), 2, "only the two fences: {rest:?}");
    assert!(rest
        .iter()
        .all(|b| b.event == "end" && b.uid == "socket.io-nats-emitter"));
    let got = c.take_until("end");
    let want = expect(&[
        ("a", &[("bin", json!(["file", as_json]))]),
        (
            "b",
            &[
                ("from-a", json!(["hi"])),
                ("bin", json!(["file", {"binary": [0, 1, 255]}])),
            ],
        ),
        ("c", &[("from-a", json!(["hi"]))]),
        ("d", &[("news", args.clone())]),
    ]);
    assert_eq!(got, want);
    nc.close().unwrap();
}

each_transport!(
    emitter_reaches_exactly_the_right_sockets,
    server_broadcasts_decode_exactly
);

/// natsws's encodeURI against Node's, on every ASCII character and some beyond.
#[test]
fn encode_uri_matches_node() {
    let ctx = Ctx::new(Transport::Tcp);
    let mut c = Cluster::start(&ctx.server.tcp_url());
    let mut strings: Vec<String> = (0u8..0x80).map(|b| (b as char).to_string()).collect();
    strings.extend(
        [
            "café au lait",
            "€",
            "😀 x",
            "\u{a0}\u{ffff}",
            "/chat#id",
            "a.b*c>d",
            "%41",
            "ü?x=1&y",
        ]
        .map(String::from),
    );
    c.send(&json!({ "op": "encodeURI", "strings": strings }));
    let answer = c.wait_line(WAIT, |v| v.get("encoded").is_some());
    let theirs: Vec<&str> = answer["encoded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ours: Vec<String> = strings.iter().map(|s| encode_uri(s).into_owned()).collect();
    assert_eq!(ours, theirs);
}

/// socket.io-nats 0.1: the subjects and bytes its format gives, through a real nats-server.
#[test]
fn socketio_nats_dialect_publishes_the_documented_bytes() {
    let ctx = Ctx::new(Transport::Ws);
    let nc = ctx.connect();
    let raw = nc.subscribe("socket.io.>").unwrap();
    let options = EmitterOptions::new(Dialect::SocketIoNats);
    let watch = Observer::new(&nc, &options).unwrap();
    nc.flush().unwrap();
    let io = Emitter::new(&nc, options).unwrap();

    io.to("lobby").emit("chat", "hello").unwrap();
    io.of("/chat").to("café #1").emit("x", ()).unwrap();
    io.to("a")
        .to("b")
        .except("/#sid")
        .volatile()
        .emit("y", (1, [2]))
        .unwrap();
    io.to("*").emit("z", ()).unwrap();
    let want = [
        (
            "socket.io./.lobby",
            r#"["emitter",{"type":2,"data":["chat","hello"],"nsp":"/"},{"rooms":["lobby"],"flags":{}}]"#,
        ),
        (
            "socket.io./chat.caf%C3%A9%20#1",
            r#"["emitter",{"type":2,"data":["x"],"nsp":"/chat"},{"rooms":["café #1"],"flags":{}}]"#,
        ),
        (
            "socket.io./",
            r#"["emitter",{"type":2,"data":["y",1,[2]],"nsp":"/"},{"rooms":["a","b"],"except":["/#sid"],"flags":{"volatile":true}}]"#,
        ),
        (
            "socket.io./",
            r#"["emitter",{"type":2,"data":["z"],"nsp":"/"},{"rooms":["*"],"flags":{}}]"#,
        ),
    ];
    for (subject, payload) in want {
        let m = common::next(&raw);
        assert_eq!(m.subject, subject);
        assert_eq!(std::str::from_utf8(&m.payload).unwrap(), payload);
        let b = watch.next_timeout(WAIT).unwrap();
        assert_eq!(
            b,
            Broadcast::decode(Dialect::SocketIoNats, payload.as_bytes()).unwrap()
        );
        assert_eq!(b.uid, "emitter");
    }
    common::assert_quiet(&nc, &raw);
    // `to_message` is what `emit` publishes.
    let m = io.to("lobby").to_message("chat", "hello").unwrap();
    assert_eq!(
        (m.subject.as_str(), &m.payload[..]),
        (want[0].0, want[0].1.as_bytes())
    );

    // A socket.io 1.x server's broadcast, published as the 0.1 adapter does.
    nc.publish(
        "socket.io./chat",
        r#"["xY9_a-",{"type":2,"data":["m",{"n":1}],"nsp":"/chat"},{"except":["/chat#s1"],"rooms":[],"flags":{"broadcast":true}}]"#,
    )
    .unwrap();
    let _ = common::next(&raw);
    let b = watch.next_timeout(WAIT).unwrap();
    assert_eq!((b.uid.as_str(), b.namespace.as_str()), ("xY9_a-", "/chat"));
    assert_eq!(b.except, ["/chat#s1"]);
    assert!(b.flags.broadcast);
    // Not a broadcast: an error naming the subject; the observer goes on.
    nc.publish("socket.io./.junk", "[1]").unwrap();
    let e = watch.next_timeout(WAIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.to_string().contains("socket.io./.junk"), "{e}");
    nc.close().unwrap();
}

/// Bad input to the emitter is refused before anything is published.
#[test]
fn emitter_refuses_bad_input() {
    let ctx = Ctx::new(Transport::Tcp);
    let nc: Connection = ctx.connect();
    let e = Emitter::new(&nc, EmitterOptions::new(Dialect::Mickl).delimiter("/")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOption);
    let io = Emitter::new(&nc, EmitterOptions::new(Dialect::Mickl)).unwrap();
    assert_eq!(
        io.emit("connect", ()).unwrap_err().kind(),
        ErrorKind::InvalidOption
    );
    assert_eq!(
        io.of("/a b").emit("x", ()).unwrap_err().kind(),
        ErrorKind::InvalidSubject
    );
    let e = Observer::new(
        &nc,
        &EmitterOptions::new(Dialect::SocketIoNats).delimiter(":"),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOption);
    nc.close().unwrap();
}
