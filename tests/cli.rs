//! The `natsws` command-line example (examples/natsws) run as a program against real
//! nats-servers: every verb's output and exit status, and what it did on the server.
//!
//! The binary is the one cargo builds for `cargo test` (examples are built before the tests
//! run): `target/<profile>/examples/natsws`. `cargo test --test cli` alone does not build
//! examples; add `--example natsws` or run `cargo build --all-features --example natsws` first.
#![cfg(all(
    feature = "jetstream",
    feature = "kv",
    feature = "object_store",
    feature = "service"
))]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use natsws::jetstream::{AckPolicy, DeliverPolicy, RetentionPolicy, StorageType};
use natsws::test_server::NatsServer;
use natsws::ErrorKind;

/// The bound of every run of the tool.
const WAIT: Duration = Duration::from_secs(20);

fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/cli-<hash> → target/<profile>/examples/natsws
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| {
            profile
                .join("examples")
                .join(format!("natsws{}", std::env::consts::EXE_SUFFIX))
        })
        .expect("target/<profile>");
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: build it with `cargo build --all-features --example natsws` \
             (a plain `cargo test --all-features` builds it)",
                path.display()
            )
        });
    // `cargo test --test cli` alone does not rebuild examples: refuse to test an old binary.
    let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/natsws");
    for f in std::fs::read_dir(&sources)
        .expect("examples/natsws")
        .flatten()
    {
        let changed = f
            .metadata()
            .and_then(|m| m.modified())
            .expect("source mtime");
        assert!(
            changed <= built,
            "{} is older than {}: rebuild it with `cargo build --all-features --example natsws`",
            path.display(),
            f.path().display()
        );
    }
    path
}

/// What a finished run printed, and how it ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "the tool failed: {self:#?}");
        self
    }

    #[track_caller]
    fn fails(self, code: i32, stderr_has: &str) -> Run {
        assert_eq!(self.code, Some(code), "unexpected exit: {self:#?}");
        assert!(
            self.stderr.contains(stderr_has),
            "stderr lacks {stderr_has:?}: {self:#?}"
        );
        self
    }
}

/// A running tool; killed when dropped, so a failing test leaves nothing behind.
struct Proc {
    child: Child,
    stdout: Option<thread::JoinHandle<String>>,
    stderr_lines: mpsc::Receiver<String>,
    stderr: String,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        Proc::start_env(args, None)
    }

    /// Starts another program (not the tool) the same way.
    fn start_program(program: &str, args: &[&str]) -> Proc {
        Proc::spawn(Command::new(program), args)
    }

    /// Starts the tool with `$NATS_URL` set to `nats_url`, or unset.
    fn start_env(args: &[&str], nats_url: Option<&str>) -> Proc {
        let mut cmd = Command::new(bin());
        match nats_url {
            Some(u) => cmd.env("NATS_URL", u),
            None => cmd.env_remove("NATS_URL"),
        };
        Proc::spawn(cmd, args)
    }

    fn spawn(cmd: Command, args: &[&str]) -> Proc {
        Proc::spawn_with_stdin(cmd, args, None)
    }

    /// Spawns with `input` as standard input (written by a thread, then closed), or none.
    fn spawn_with_stdin(mut cmd: Command, args: &[&str], input: Option<Vec<u8>>) -> Proc {
        let stdin = if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = cmd
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        if let (Some(input), Some(mut w)) = (input, child.stdin.take()) {
            thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut w, &input);
            });
        }
        let mut out = child.stdout.take().unwrap();
        let stdout = thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let (tx, stderr_lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            stdout: Some(stdout),
            stderr_lines,
            stderr: String::new(),
        }
    }

    /// Waits for a stderr line containing `what` (the tool's "ready" lines).
    #[track_caller]
    fn wait_stderr(&mut self, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if line.contains(what) {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no {what:?} on stderr within {WAIT:?}; got: {}",
                    self.stderr
                ),
            }
        }
    }

    /// Waits for the exit, killing the tool if it runs past the bound.
    #[track_caller]
    fn finish(mut self) -> Run {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for the tool") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the tool did not exit within {WAIT:?}; stderr so far: {}",
                    self.stderr
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
        // The stderr reader ends at EOF, which comes with the exit.
        while let Ok(line) = self.stderr_lines.recv_timeout(WAIT) {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        Run {
            code: status.code(),
            stdout,
            stderr: std::mem::take(&mut self.stderr),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the tool to its end.
fn run(args: &[&str]) -> Run {
    Proc::start(args).finish()
}

/// Runs the tool against `server`'s tcp URL.
fn on(server: &NatsServer, args: &[&str]) -> Run {
    let url = server.tcp_url();
    let mut all = vec!["-s", url.as_str()];
    all.extend_from_slice(args);
    run(&all)
}

fn start_on(server: &NatsServer, args: &[&str]) -> Proc {
    let url = server.tcp_url();
    let mut all = vec!["-s", url.as_str()];
    all.extend_from_slice(args);
    Proc::start(&all)
}

fn js_server() -> NatsServer {
    NatsServer::builder()
        .jetstream(true)
        .start()
        .expect("nats-server with JetStream")
}

#[test]
fn every_verb_has_help() {
    let verbs: &[&[&str]] = &[
        &[],
        &["pub"],
        &["sub"],
        &["req"],
        &["reply"],
        &["bench"],
        &["stream"],
        &["stream", "ls"],
        &["stream", "info"],
        &["stream", "add"],
        &["stream", "rm"],
        &["consumer"],
        &["consumer", "ls"],
        &["consumer", "info"],
        &["consumer", "add"],
        &["consumer", "rm"],
        &["service"],
        &["service", "ls"],
        &["service", "ping"],
        &["service", "info"],
        &["service", "stats"],
        &["kv"],
        &["kv", "add"],
        &["kv", "put"],
        &["kv", "get"],
        &["kv", "del"],
        &["kv", "ls"],
        &["kv", "watch"],
        &["kv", "create"],
        &["kv", "info"],
        &["obj"],
        &["obj", "add"],
        &["obj", "put"],
        &["obj", "get"],
        &["obj", "ls"],
        &["obj", "del"],
        &["obj", "info"],
    ];
    for verb in verbs {
        let mut args = verb.to_vec();
        args.push("--help");
        let r = run(&args).ok();
        let usage = format!("Usage: natsws {}", verb.join(" "));
        assert!(r.stdout.contains(usage.trim_end()), "{args:?}: {r:#?}");
        assert!(
            r.stdout.contains("--server"),
            "{args:?} lacks the global options: {r:#?}"
        );
    }
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    run(&["pub", "--bogus", "x"]).fails(2, "--bogus");
    run(&["pub"]).fails(2, "<SUBJECT>");
    run(&["--timeout", "5parsecs", "pub", "x"]).fails(2, "unknown unit");
    run(&["stream", "add", "S", "--storage", "tape"]).fails(2, "tape");
    run(&["bench", "--pub", "0"]).fails(1, "nothing to do");
    let r = run(&["frobnicate"]).fails(2, "frobnicate");
    assert!(r.stdout.is_empty(), "{r:#?}");
}

#[test]
fn unreachable_server_fails_with_a_message() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let r = run(&["-s", &url, "--timeout", "2s", "pub", "x", "y"]).fails(1, "natsws: error:");
    assert!(r.stderr.contains("refused"), "{r:#?}");
    // NATS_URL is the default --server.
    let r = Proc::start_env(&["--timeout", "2s", "pub", "x", "y"], Some(&url)).finish();
    let r = r.fails(1, "natsws: error:");
    assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{r:#?}");
}

/// `sub` prints what `pub` sends: subject, headers, templated bodies; over tcp, and over wss
/// with the server's CA given by `--tlsca`.
#[test]
fn pub_to_sub() {
    let server = NatsServer::builder().websocket_tls(true).start().unwrap();
    let wss = server.wss_url().unwrap();
    let ca = server.ca_path().to_str().unwrap().to_string();
    for url in [server.tcp_url(), wss] {
        let common = ["-s", url.as_str(), "--tlsca", ca.as_str()];
        let args = |rest: &[&'static str]| [&common[..], rest].concat();
        let mut sub = Proc::start(&args(&["sub", "greet.*", "--count", "2"]));
        sub.wait_stderr("Subscribing on \"greet.*\"");
        let p = run(&args(&[
            "pub",
            "greet.joe",
            "hello {{Count}}",
            "--count",
            "2",
            "-H",
            "Trace:t-{{Count}}",
        ]))
        .ok();
        assert!(
            p.stderr
                .contains("Published 2 messages (14 bytes) to \"greet.joe\""),
            "{p:#?}"
        );
        let s = sub.finish().ok();
        for n in ["1", "2"] {
            assert!(
                s.stdout
                    .contains(&format!("[#{n}] Received on \"greet.joe\"")),
                "{s:#?}"
            );
            assert!(
                s.stdout.contains(&format!("Trace: t-{n}\n\nhello {n}\n")),
                "{s:#?}"
            );
        }
        assert!(!s.stdout.contains("[#3]"), "{s:#?}");
    }
}

/// `sub --raw` prints payloads only, and a queue subscriber gets its share.
#[test]
fn raw_queue_sub() {
    let server = NatsServer::start().unwrap();
    let mut sub = start_on(
        &server,
        &["sub", "raw", "--raw", "--queue", "q", "--count", "1"],
    );
    sub.wait_stderr("in group \"q\"");
    let p = on(&server, &["pub", "raw", "payload-only"]).ok();
    assert_eq!(p.stderr, "Published 12 bytes to \"raw\"\n");
    let s = sub.finish().ok();
    assert_eq!(s.stdout, "payload-only\n");
}

/// Without a BODY argument, `pub` and `kv put` read standard input.
#[test]
fn bodies_from_stdin() {
    let server = js_server();
    let mut sub = start_on(&server, &["sub", "in", "--count", "1", "--raw"]);
    sub.wait_stderr("Subscribing");
    let url = server.tcp_url();
    let mut cmd = Command::new(bin());
    cmd.env_remove("NATS_URL");
    let input = b"line one\nline two".to_vec();
    Proc::spawn_with_stdin(cmd, &["-s", &url, "pub", "in"], Some(input))
        .finish()
        .ok();
    assert_eq!(sub.finish().ok().stdout, "line one\nline two\n");

    on(&server, &["kv", "add", "B"]).ok();
    let mut cmd = Command::new(bin());
    cmd.env_remove("NATS_URL");
    let value = vec![0u8, 159, 146, 150]; // not UTF-8: stored as it is
    Proc::spawn_with_stdin(
        cmd,
        &["-s", &url, "kv", "put", "B", "k"],
        Some(value.clone()),
    )
    .finish()
    .ok();
    let nc = natsws::connect(url.as_str()).unwrap();
    assert_eq!(
        &nc.jetstream()
            .key_value("B")
            .unwrap()
            .get("k")
            .unwrap()
            .value[..],
        &value[..]
    );
}

#[test]
fn req_and_reply() {
    let server = NatsServer::start().unwrap();
    let mut rep = start_on(
        &server,
        &[
            "reply", "svc.time", "noon", "--count", "1", "-H", "From:cli",
        ],
    );
    rep.wait_stderr("Listening on \"svc.time\"");
    let r = on(&server, &["req", "svc.time", "what time?", "-H", "Ask:me"]).ok();
    assert!(r.stdout.contains("Received with rtt"), "{r:#?}");
    assert!(r.stdout.contains("From: cli\n\nnoon\n"), "{r:#?}");
    let rep = rep.finish().ok();
    assert!(rep.stdout.contains("Ask: me\n\nwhat time?\n"), "{rep:#?}");

    // Two echoing responders outside a shared group: --replies 2 prints both.
    let mut a = start_on(
        &server,
        &["reply", "echo", "--echo", "--queue", "a", "--count", "1"],
    );
    let mut b = start_on(
        &server,
        &["reply", "echo", "--echo", "--queue", "b", "--count", "1"],
    );
    a.wait_stderr("Listening");
    b.wait_stderr("Listening");
    let r = on(
        &server,
        &["req", "echo", "twice", "--replies", "2", "--raw"],
    )
    .ok();
    assert_eq!(r.stdout, "twice\ntwice\n", "{r:#?}");
    a.finish().ok();
    b.finish().ok();

    // Nobody listening: an error at once, not a timeout.
    let r = on(&server, &["req", "nobody.home", "x"]).fails(1, "natsws: error:");
    assert!(r.stderr.to_lowercase().contains("no responders"), "{r:#?}");
}

#[test]
fn bench_pub_and_sub() {
    let server = NatsServer::start().unwrap();
    let r = on(
        &server,
        &[
            "bench", "b.x", "--msgs", "5000", "--size", "64", "--pub", "2", "--sub", "2",
        ],
    )
    .ok();
    assert!(r.stdout.contains("Pub stats: "), "{r:#?}");
    assert!(r.stdout.contains("Sub stats: "), "{r:#?}");
    // Two publishers share the messages; every subscriber gets them all.
    assert!(r.stdout.contains("(2500 msgs in"), "{r:#?}");
    assert!(r.stdout.contains("(10000 msgs in"), "{r:#?}");
    assert!(r.stdout.contains("MB/s"), "{r:#?}");
}

#[test]
fn streams_and_consumers() {
    let server = js_server();
    let nc = natsws::connect(server.tcp_url()).unwrap();
    let js = nc.jetstream();

    let r = on(
        &server,
        &[
            "stream",
            "add",
            "ORDERS",
            "--subjects",
            "orders.a,orders.b",
            "--subjects",
            "orders.c",
            "--storage",
            "memory",
            "--retention",
            "limits",
            "--max-msgs",
            "100",
            "--max-bytes",
            "1M",
            "--max-age",
            "1h",
            "--replicas",
            "1",
        ],
    )
    .ok();
    assert!(r.stdout.contains("Stream: ORDERS"), "{r:#?}");
    assert!(r.stdout.contains("Maximum Messages: 100"), "{r:#?}");
    let c = js.stream("ORDERS").unwrap().cached_info().config.clone();
    assert_eq!(c.subjects, ["orders.a", "orders.b", "orders.c"]);
    assert_eq!(c.storage, StorageType::Memory);
    assert_eq!(c.retention, RetentionPolicy::Limits);
    assert_eq!((c.max_msgs, c.max_bytes), (100, 1 << 20));
    assert_eq!(c.max_age, Duration::from_secs(3600));
    js.publish("orders.a", "one").unwrap();

    on(&server, &["stream", "add", "OTHER", "--retention", "work"]).ok();
    let c = js.stream("OTHER").unwrap().cached_info().config.clone();
    assert_eq!(c.retention, RetentionPolicy::WorkQueue);
    assert_eq!(c.subjects, ["OTHER"], "the subject defaults to the name");
    let r = on(&server, &["stream", "ls", "--names"]).ok();
    assert_eq!(r.stdout, "ORDERS\nOTHER\n");
    let r = on(&server, &["stream", "ls"]).ok();
    assert!(r.stdout.contains("ORDERS\t1 messages"), "{r:#?}");
    let r = on(&server, &["stream", "info", "ORDERS", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["name"], "ORDERS");
    let r = on(&server, &["stream", "info", "ORDERS"]).ok();
    assert!(r.stdout.contains("Messages: 1\n"), "{r:#?}");
    on(&server, &["stream", "info", "NOPE"]).fails(1, "natsws: error:");

    let r = on(
        &server,
        &[
            "consumer",
            "add",
            "ORDERS",
            "C1",
            "--filter",
            "orders.a",
            "--ack",
            "all",
            "--deliver",
            "last",
            "--pull",
            "--max-deliver",
            "5",
            "--max-pending",
            "20",
            "--wait",
            "10s",
        ],
    )
    .ok();
    assert!(r.stdout.contains("Consumer: ORDERS > C1"), "{r:#?}");
    let c = js
        .consumer("ORDERS", "C1")
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert_eq!(c.durable_name, "C1");
    assert_eq!(c.filter_subject, "orders.a");
    assert_eq!(c.ack_policy, AckPolicy::All);
    assert_eq!(c.deliver_policy, DeliverPolicy::Last);
    assert_eq!((c.max_deliver, c.max_ack_pending), (5, 20));
    assert_eq!(c.ack_wait, Duration::from_secs(10));
    assert!(c.deliver_subject.is_empty(), "a pull consumer");
    on(
        &server,
        &[
            "consumer",
            "add",
            "ORDERS",
            "C2",
            "--filter",
            "orders.b",
            "--deliver",
            "7",
        ],
    )
    .ok();
    let c2 = js
        .consumer("ORDERS", "C2")
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert_eq!(
        (c2.deliver_policy, c2.opt_start_seq),
        (DeliverPolicy::ByStartSequence, 7)
    );
    on(
        &server,
        &["consumer", "add", "ORDERS", "C3", "--deliver", "sometime"],
    )
    .fails(1, "--deliver");

    let r = on(&server, &["consumer", "ls", "ORDERS", "--names"]).ok();
    assert_eq!(r.stdout, "C1\nC2\n");
    let r = on(&server, &["consumer", "ls", "ORDERS"]).ok();
    assert!(r.stdout.contains("C1\t1 pending"), "{r:#?}");
    let r = on(&server, &["consumer", "info", "ORDERS", "C1", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["filter_subject"], "orders.a");

    // Deleting asks first; without a terminal it refuses unless --force.
    on(&server, &["consumer", "rm", "ORDERS", "C1"]).fails(1, "without --force");
    js.consumer("ORDERS", "C1").expect("still there");
    on(&server, &["consumer", "rm", "ORDERS", "C1", "-f"]).ok();
    let e = js.consumer("ORDERS", "C1").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConsumerNotFound);
    on(&server, &["stream", "rm", "ORDERS"]).fails(1, "without --force");
    on(&server, &["stream", "rm", "ORDERS", "--force"]).ok();
    assert_eq!(
        js.stream("ORDERS").unwrap_err().kind(),
        ErrorKind::StreamNotFound
    );
    let r = on(&server, &["stream", "ls", "--names"]).ok();
    assert_eq!(r.stdout, "OTHER\n");
}

#[test]
fn services() {
    let server = NatsServer::start().unwrap();
    let nc = natsws::connect(server.tcp_url()).unwrap();
    let svc = nc
        .services()
        .builder("greeter", "1.2.3")
        .description("says hello")
        .start()
        .unwrap();
    svc.endpoint("hello")
        .handler(|req| {
            let _ = req.respond("hi");
        })
        .unwrap();
    let id = svc.id().to_string();
    nc.flush().unwrap();

    let r = on(&server, &["service", "ls"]).ok();
    assert_eq!(r.stdout, format!("greeter\t1.2.3\t{id}\tsays hello\n"));
    let r = on(&server, &["service", "ping"]).ok();
    assert_eq!(r.stdout, format!("greeter\t1.2.3\t{id}\n"));
    let r = on(&server, &["micro", "ping", "greeter"]).ok();
    assert!(r.stdout.contains(&id), "{r:#?}");
    on(&server, &["service", "ping", "nobody"]).fails(1, "no instance of service nobody");
    let r = on(&server, &["service", "info", "greeter"]).ok();
    assert!(
        r.stdout
            .contains("Endpoint: hello  subject hello  queue group q"),
        "{r:#?}"
    );

    on(&server, &["req", "hello", ""]).ok();
    let r = on(&server, &["service", "stats", "greeter", &id, "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["endpoints"][0]["num_requests"], 1, "{r:#?}");
    let r = on(&server, &["service", "stats", "greeter"]).ok();
    assert!(r.stdout.contains("requests 1  errors 0"), "{r:#?}");
    svc.stop().unwrap();
}

#[test]
fn key_value() {
    let server = js_server();
    let nc = natsws::connect(server.tcp_url()).unwrap();
    let js = nc.jetstream();

    let r = on(
        &server,
        &["kv", "add", "CFG", "--history", "3", "--storage", "memory"],
    )
    .ok();
    assert!(r.stdout.contains("Bucket: CFG\n  History: 3"), "{r:#?}");
    let kv = js.key_value("CFG").unwrap();
    on(&server, &["kv", "put", "CFG", "mode", "eco"]).ok();
    on(&server, &["kv", "put", "CFG", "mode", "boost"]).ok();
    on(&server, &["kv", "put", "CFG", "fan", "on"]).ok();
    assert_eq!(&kv.get("mode").unwrap().value[..], b"boost");

    let r = on(&server, &["kv", "get", "CFG", "mode", "--raw"]).ok();
    assert_eq!(r.stdout, "boost\n");
    let r = on(&server, &["kv", "get", "CFG", "mode", "--revision", "1"]).ok();
    assert!(
        r.stdout.starts_with("CFG > mode revision 1 created "),
        "{r:#?}"
    );
    assert!(r.stdout.ends_with("\n\neco\n"), "{r:#?}");
    on(&server, &["kv", "get", "CFG", "nope"]).fails(1, "natsws: error:");
    on(&server, &["kv", "create", "CFG", "fan", "off"]).fails(1, "natsws: error:");

    let r = on(&server, &["kv", "ls", "CFG"]).ok();
    assert_eq!(r.stdout, "fan\nmode\n");
    on(&server, &["kv", "add", "OTHER"]).ok();
    let r = on(&server, &["kv", "ls", "--names"]).ok();
    assert_eq!(r.stdout, "CFG\nOTHER\n");
    let r = on(&server, &["kv", "ls"]).ok();
    // Values are stored revisions, history included (as `nats kv ls` counts them).
    assert!(r.stdout.contains("CFG\t3 values"), "{r:#?}");

    // watch: the current values, then a change made while it runs.
    let mut w = start_on(&server, &["kv", "watch", "CFG", "--count", "3"]);
    w.wait_stderr("Watching CFG");
    kv.put("fan", "auto").unwrap();
    let w = w.finish().ok();
    let lines: Vec<&str> = w.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{w:#?}");
    assert!(lines[0].ends_with("PUT CFG > mode: boost"), "{w:#?}");
    assert!(lines[1].ends_with("PUT CFG > fan: on"), "{w:#?}");
    assert!(lines[2].ends_with("PUT CFG > fan: auto"), "{w:#?}");

    on(&server, &["kv", "del", "CFG", "fan"]).ok();
    assert_eq!(kv.get("fan").unwrap_err().kind(), ErrorKind::KeyNotFound);
    let r = on(&server, &["kv", "ls", "CFG"]).ok();
    assert_eq!(r.stdout, "mode\n");
    on(&server, &["kv", "del", "OTHER"]).fails(1, "without --force");
    on(&server, &["kv", "del", "OTHER", "-f"]).ok();
    assert_eq!(
        js.key_value("OTHER").unwrap_err().kind(),
        ErrorKind::BucketNotFound
    );
}

#[test]
fn object_store() {
    let server = js_server();
    let nc = natsws::connect(server.tcp_url()).unwrap();
    let js = nc.jetstream();
    let dir = tempdir();
    // Several chunks (128 KiB each by default) and a short last one.
    let data: Vec<u8> = (0..700_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let src = dir.join("blob.bin");
    std::fs::write(&src, &data).unwrap();
    let src = src.to_str().unwrap();

    on(&server, &["obj", "add", "FILES", "--storage", "memory"]).ok();
    let r = on(&server, &["obj", "put", "FILES", src]).ok();
    assert!(r.stdout.contains("Object: FILES > blob.bin"), "{r:#?}");
    assert!(r.stdout.contains("(700001 bytes) in 6 chunks"), "{r:#?}");
    let store = js.object_store("FILES").unwrap();
    assert_eq!(store.get_bytes("blob.bin").unwrap(), data);

    let out = dir.join("copy.bin");
    let out_s = out.to_str().unwrap();
    on(&server, &["obj", "get", "FILES", "blob.bin", "-O", out_s]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), data);
    on(&server, &["obj", "get", "FILES", "blob.bin", "-O", out_s]).fails(1, "--force");
    on(
        &server,
        &["obj", "get", "FILES", "blob.bin", "-O", out_s, "--force"],
    )
    .ok();
    assert_eq!(std::fs::read(&out).unwrap(), data);
    on(&server, &["obj", "get", "FILES", "nope", "-O", out_s, "-f"]).fails(1, "not found");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        data,
        "a failed get leaves the file alone"
    );

    store.put_bytes("small.txt", "tiny").unwrap();
    let r = on(&server, &["obj", "ls", "FILES", "--names"]).ok();
    assert_eq!(r.stdout, "blob.bin\nsmall.txt\n");
    let r = on(&server, &["obj", "get", "FILES", "small.txt", "-O", "-"]).ok();
    assert_eq!(r.stdout, "tiny");
    let r = on(&server, &["obj", "ls"]).ok();
    assert_eq!(r.stdout, "FILES\n");

    on(&server, &["obj", "del", "FILES", "blob.bin"]).fails(1, "without --force");
    on(&server, &["obj", "del", "FILES", "blob.bin", "-f"]).ok();
    let r = on(&server, &["obj", "ls", "FILES", "--names"]).ok();
    assert_eq!(r.stdout, "small.txt\n");
    on(&server, &["obj", "del", "FILES", "-f"]).ok();
    let r = on(&server, &["obj", "ls"]).ok();
    assert_eq!(r.stdout, "");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `obj put` and `obj get` draw a progress bar on stderr when stdout is a terminal (here the
/// pseudo-terminal of util-linux's `script`), and none when it is not.
#[test]
fn object_progress_bar_on_a_terminal() {
    let server = js_server();
    let dir = tempdir();
    let src = dir.join("big.bin");
    std::fs::write(&src, vec![7u8; 3 << 20]).unwrap();
    let (url, src) = (server.tcp_url(), src.to_str().unwrap().to_string());
    on(&server, &["obj", "add", "BIG"]).ok();
    let bin = bin();
    let tool = bin.to_str().unwrap();
    let put = format!("{tool} -s {url} obj put BIG {src}");
    let r = run_in_terminal(&put);
    assert!(r.stdout.contains("put big.bin ["), "{r:#?}");
    assert!(r.stdout.contains("] 100% 3.0 MiB / 3.0 MiB"), "{r:#?}");
    let out = dir.join("out.bin");
    let get = format!("{tool} -s {url} obj get BIG big.bin -O {}", out.display());
    let r = run_in_terminal(&get);
    assert!(
        r.stdout
            .contains("get big.bin [##############################] 100%"),
        "{r:#?}"
    );
    assert_eq!(std::fs::read(&out).unwrap().len(), 3 << 20);
    // Not a terminal: no bar.
    let r = on(
        &server,
        &[
            "obj",
            "get",
            "BIG",
            "big.bin",
            "-O",
            out.to_str().unwrap(),
            "-f",
        ],
    )
    .ok();
    assert!(!r.stderr.contains('%'), "{r:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a command line with a pseudo-terminal as stdout and stderr (util-linux `script`).
fn run_in_terminal(command: &str) -> Run {
    Proc::start_program("script", &["-qec", command, "/dev/null"])
        .finish()
        .ok()
}

/// `--proxy` reaches the server through an HTTP CONNECT proxy: with one that is not there,
/// connecting fails naming the proxy's address (without it, the same command works).
#[test]
fn proxy_option_is_used() {
    let server = NatsServer::start().unwrap();
    on(&server, &["pub", "x", "y"]).ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = format!("http://127.0.0.1:{port}");
    let r = on(&server, &["--proxy", &proxy, "pub", "x", "y"]).fails(1, "natsws: error:");
    assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{r:#?}");
}

/// A fresh folder under the system's temporary directory (emptied first if an earlier run
/// left it).
fn tempdir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("natsws-cli-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
