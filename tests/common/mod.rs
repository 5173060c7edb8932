//! Shared helpers of the integration suites: one server per test and transport, a client that
//! trusts the server's CA, and a macro that turns one case into a test per transport.
#![allow(dead_code)]

pub mod proxy;

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use natsws::test_server::{NatsServer, Transport};
use natsws::{Connection, ErrorKind, Event, Message, Options, Subscription};

/// The bound of every single wait in the suite.
pub const WAIT: Duration = Duration::from_secs(10);

/// Generates, for every listed case `fn name(t: Transport)`, a module `name` with the tests
/// `tcp`, `ws` and `wss`, so a failure names the case and the transport (`wss` only with the
/// `tls` feature).
#[macro_export]
macro_rules! each_transport {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use natsws::test_server::Transport;
                #[test]
                fn tcp() {
                    super::$case(Transport::Tcp)
                }
                #[test]
                fn ws() {
                    super::$case(Transport::Ws)
                }
                #[test]
                #[cfg(feature = "tls")]
                fn wss() {
                    super::$case(Transport::Wss)
                }
            }
        )*
    };
}

/// A server offering `t` (and tcp), and how to connect to it.
pub struct Ctx {
    pub t: Transport,
    pub server: NatsServer,
}

impl Ctx {
    pub fn new(t: Transport) -> Ctx {
        Ctx::with_config(t, "")
    }

    /// A server offering `t` (and tcp) with JetStream (a temporary store, removed on drop).
    pub fn jetstream(t: Transport) -> Ctx {
        let server = NatsServer::builder()
            .transport(t)
            .jetstream(true)
            .start()
            .unwrap_or_else(|e| panic!("starting nats-server with JetStream for {t:?}: {e}"));
        Ctx { t, server }
    }

    /// A server with `extra` appended to its config.
    pub fn with_config(t: Transport, extra: &str) -> Ctx {
        let mut b = NatsServer::builder().transport(t);
        if !extra.is_empty() {
            b = b.config(extra);
        }
        let server = b
            .start()
            .unwrap_or_else(|e| panic!("starting nats-server for {t:?}: {e}"));
        Ctx { t, server }
    }

    /// The URL of the transport under test.
    pub fn url(&self) -> String {
        self.server.url(self.t).expect("the server offers t")
    }

    /// The URL of the transport under test with `user:pass@`.
    pub fn url_with_user(&self, user: &str, pass: &str) -> String {
        with_user(&self.url(), user, pass)
    }

    /// Options trusting the server's CA.
    pub fn opts(&self) -> Options {
        Options::new().add_root_certificate_pem(self.server.ca_pem().as_bytes().to_vec())
    }

    /// A connection over the transport under test.
    pub fn connect(&self) -> Connection {
        self.connect_with(self.opts())
    }

    pub fn connect_with(&self, opts: Options) -> Connection {
        let url = self.url();
        opts.connect(url.as_str())
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
    }

    /// A connection to the same server over plain tcp.
    pub fn connect_tcp(&self) -> Connection {
        let url = self.server.tcp_url();
        self.opts()
            .connect(url.as_str())
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
    }
}

/// `scheme://user:pass@rest`.
pub fn with_user(url: &str, user: &str, pass: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    format!("{scheme}://{user}:{pass}@{rest}")
}

/// The next message, or a panic naming what was expected.
pub fn next(sub: &Subscription) -> Message {
    sub.next_timeout(WAIT)
        .unwrap_or_else(|e| panic!("waiting for a message on {}: {e}", sub.subject()))
}

/// Asserts that nothing more arrives on `sub` after a flush round trip of `nc` (the server has
/// then routed everything published before).
pub fn assert_quiet(nc: &Connection, sub: &Subscription) {
    nc.flush().unwrap();
    if let Some(m) = sub.try_next() {
        panic!("unexpected message on {}: {m:?}", sub.subject());
    }
}

/// Waits (bounded) for the first event `pick` accepts; the others are skipped.
pub fn wait_event<T>(events: &Receiver<Event>, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match events.recv_deadline(deadline) {
            Ok(ev) => {
                if let Some(x) = pick(&ev) {
                    return x;
                }
            }
            Err(e) => panic!("no matching event within {WAIT:?}: {e}"),
        }
    }
}

/// Asserts that `r` is an error of `kind`.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(r: natsws::Result<T>, kind: ErrorKind) -> natsws::Error {
    match r {
        Ok(v) => panic!("expected an error of kind {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{e}");
            e
        }
    }
}

/// Subscribes `nc` to `subject` (flushed: the server has the interest when this returns) and
/// answers every request with `answer` on a thread, until the subscription ends (close `nc`
/// and join the handle).
pub fn responder(
    nc: &Connection,
    subject: &str,
    answer: impl Fn(&Message) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let sub = nc.subscribe(subject).unwrap();
    nc.flush().unwrap();
    std::thread::spawn(move || {
        for m in sub.iter() {
            answer(&m);
        }
    })
}

/// Every message `sub` yields until its iterator ends; panics if it does not end within `WAIT`.
pub fn collect_all(sub: Subscription) -> Vec<Message> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let all: Vec<Message> = sub.iter().collect();
        let _ = tx.send(all);
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("the subscription's iterator did not end within {WAIT:?}"))
}

/// Options for reconnect tests: retry forever, 10 ms between passes over the pool, no jitter.
pub fn fast_reconnect(opts: Options) -> Options {
    opts.reconnect_wait(Duration::from_millis(10))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
}

/// Polls `nc.state()` until it is `want` (bounded by `WAIT`); returns how long it took.
#[track_caller]
pub fn wait_state(nc: &Connection, want: natsws::State) -> Duration {
    let start = Instant::now();
    loop {
        let st = nc.state();
        if st == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WAIT,
            "state {st:?}, not {want:?}, after {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The next `Disconnected` event's reason (other events are skipped).
pub fn wait_disconnected(events: &Receiver<Event>) -> natsws::Error {
    wait_event(events, |e| match e {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// The URL of the next `Reconnected` event (other events are skipped).
pub fn wait_reconnected(events: &Receiver<Event>) -> String {
    wait_event(events, |e| match e {
        Event::Reconnected { url } => Some(url.clone()),
        _ => None,
    })
}

/// The port of a URL such as `ws://127.0.0.1:4222/path`.
pub fn port_of(url: &str) -> u16 {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let port = host_port.rsplit_once(':').expect("a URL with a port").1;
    port.parse().unwrap_or_else(|_| panic!("no port in {url}"))
}

/// Runs the nats-py script `tests/interop/<script>` against `url`, bounded in time; returns its
/// stdout. A missing python3 or nats-py fails the test (CI installs them).
pub fn run_nats_py(script: &str, url: &str) -> String {
    use std::process::{Command, Stdio};
    let path = format!("{}/tests/interop/{script}", env!("CARGO_MANIFEST_DIR"));
    let child = Command::new("python3")
        .arg(&path)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed for the interop test): {e}"));
    let pid = child.id();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(out) => out.expect("waiting for python3"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("the nats-py script {script} did not finish within 90 s");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the nats-py side failed ({}); is nats-py installed (python3 -m pip install nats-py)?\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
