//! The natsws program of the peers benchmark (`../shared/peers`, contract in its README).
//!
//! Usage: `cargo run --release --example bench -- --url URL --workload pub|pubsub|reqrep|svc
//! --count N --size BYTES`
//!
//! Prints exactly one JSON line on stdout and exits 0; on failure prints one JSON line with an
//! `"error"` key and exits non-zero. Diagnostics go to stderr. `PEERS_TIMEOUT_S` (default 120)
//! is a hard deadline for the whole program: a watchdog thread prints the error line and exits.
//!
//! Workloads (subjects `peers.pub`, `peers.pubsub`, `peers.req`; payload SIZE bytes of `a..z`
//! repeated):
//! - `pub`: one connection publishes COUNT messages; timed from the first publish until
//!   `flush()` (a PING/PONG round trip) returns.
//! - `pubsub`: a subscriber connection (confirmed with `flush()` before timing, read on its own
//!   thread) and a publisher connection; timed from the first publish until the subscriber
//!   has received COUNT messages.
//! - `reqrep`: a responder connection echoes each request on its own thread; the requester
//!   sends COUNT sequential `request_timeout` calls; p50/p99 latency (nearest rank).
//! - `svc`: `reqrep` through a service endpoint (subject `peers.svc`, feature `service`): the
//!   responder connection runs a service whose endpoint handler echoes on its own thread, with
//!   stats on (each request counted and timed); the requester is as in `reqrep`. The
//!   endpoint's STATS count must equal COUNT.
//!
//! - `jspub` (JetStream; stream `PEERS`, subjects `peers.js.>`, memory, R1, deleted and
//!   created before timing): COUNT `js.publish` calls to `peers.js.pub`, each waiting for its
//!   PubAck (stream and sequence checked); p50/p99 of the per-publish latency.
//! - `jspubasync`: `js.publish_async` with a window of 5,000 outstanding acks; every ack is
//!   waited for and checked (stream `PEERS`, sequences 1..=COUNT, the last COUNT) before the
//!   clock stops.
//! - `jsconsume`: untimed fill of COUNT messages and the durable pull consumer `C` (ack
//!   explicit, deliver all, max ack pending 1000); timed: `consumer.messages()` (ADR-37
//!   consume) receives COUNT, each acked with a plain ack, until the last ack is flushed.
//! - `jsordered`: untimed fill; timed: an ordered consumer (its creation included) reads COUNT.
//!
//! Key-Value and Object Store (contract in `notes/BENCH-kv-obj.md`; payload as above):
//! - `kvput`: the KV bucket `peers` (memory, history 1) deleted and created before timing;
//!   COUNT `kv.put` calls, key `k<i mod 1000>` (`k0`..`k999`), each waiting for its ack (the
//!   revision must be i + 1); msgs/s = puts/s, p50/p99 of the per-put latency.
//! - `kvget`: the bucket as above with the 1,000 keys put untimed; timed: COUNT sequential
//!   `kv.get` of key `k<i mod 1000>`, each value's length checked; gets/s, p50/p99.
//! - `objput`: the object store `peers` (memory) deleted and created before timing; timed:
//!   COUNT puts of an object of SIZE bytes (`peers-<i>`), streamed from a reader that
//!   generates it (never held whole), in the default 128 KiB chunks pipelined through the
//!   publish window; each put returns when every chunk ack and the info's ack are in (its
//!   size is checked). mb_per_s = COUNT × SIZE / secs. Default 1 × 64 MiB.
//! - `objget`: the objects put untimed as in `objput`; timed: COUNT gets, each read to the end
//!   into a sink (size and SHA-256 checked by the reader), its byte count checked.
//!
//! Every connection uses the default options except the pubsub subscriber's pending limits.
//! `--ws-compression on` (not part of the peers contract; default off) offers WebSocket
//! compression on every connection, to compare with and without it against a server with
//! `websocket { compression: true }`. `--idle-subs N` (not part of the contract either; default
//! 0) gives the pubsub subscriber's connection N more subscriptions, on subjects nobody
//! publishes to, before timing: how throughput scales with the subscriptions a connection has.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use natsws::jetstream::{
    AckPolicy, ConsumeOptions, ConsumerConfig, DeliverPolicy, JetStream, JetStreamOptions,
    OrderedConsumerConfig, StorageType, StreamConfig,
};
use natsws::kv::Config as KvConfig;
use natsws::object_store::{Config as ObjConfig, ObjectMeta};
use natsws::{Connection, ErrorKind, Options};

const CLIENT: &str = "natsws";
const SUBJECT_PUB: &str = "peers.pub";
const SUBJECT_PUBSUB: &str = "peers.pubsub";
const SUBJECT_REQ: &str = "peers.req";
#[cfg(feature = "service")]
const SUBJECT_SVC: &str = "peers.svc";
const DEFAULT_TIMEOUT_S: u64 = 120;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const USAGE: &str = "usage: bench --url URL --workload pub|pubsub|reqrep|svc|jspub|jspubasync|jsconsume|jsordered|kvput|kvget|objput|objget --count N --size BYTES [--ws-compression on|off] [--idle-subs N]";
const STREAM: &str = "PEERS";
const SUBJECT_JS: &str = "peers.js.pub";
/// The window of outstanding acks of `jspubasync` (BENCH.md: 5,000 for everyone).
const JS_WINDOW: usize = 5000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Pub,
    PubSub,
    ReqRep,
    Svc,
    JsPub,
    JsPubAsync,
    JsConsume,
    JsOrdered,
    KvPut,
    KvGet,
    ObjPut,
    ObjGet,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Pub => "pub",
            Workload::PubSub => "pubsub",
            Workload::ReqRep => "reqrep",
            Workload::Svc => "svc",
            Workload::JsPub => "jspub",
            Workload::JsPubAsync => "jspubasync",
            Workload::JsConsume => "jsconsume",
            Workload::JsOrdered => "jsordered",
            Workload::KvPut => "kvput",
            Workload::KvGet => "kvget",
            Workload::ObjPut => "objput",
            Workload::ObjGet => "objget",
        }
    }
}

struct Args {
    url: String,
    workload: Workload,
    count: usize,
    size: usize,
    deadline: Instant,
    timeout_s: f64,
    ws_compression: bool,
    idle_subs: usize,
}

impl Args {
    /// "ws" for ws:// and wss:// URLs, "tcp" for everything else (nats://, tls://, host:port).
    fn transport(&self) -> &'static str {
        transport_of(&self.url)
    }

    fn payload(&self) -> Vec<u8> {
        (0..self.size).map(|i| b'a' + (i % 26) as u8).collect()
    }

    /// Time left before the deadline (at least 1 ms, so a timeout argument is never zero).
    fn left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }
}

fn transport_of(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        "ws"
    } else {
        "tcp"
    }
}

/// What a run measured.
#[derive(Default)]
struct Outcome {
    secs: f64,
    /// Sorted per-request latencies in nanoseconds (reqrep only).
    latencies_ns: Option<Vec<u64>>,
    /// Messages the subscriber got (pubsub only).
    received: Option<usize>,
    /// The window of outstanding acks (jspubasync only).
    window: Option<usize>,
}

/// The fields every JSON line has, known from the command line (possibly only in part).
#[derive(Clone)]
struct Header {
    transport: Option<&'static str>,
    workload: Option<&'static str>,
    count: Option<usize>,
    size: Option<usize>,
}

/// Serialises printing the one JSON line: whoever prints first (the main thread or the
/// watchdog) exits while holding the lock, so the other can never print a second line.
static EMIT: Mutex<()> = Mutex::new(());

fn emit_and_exit(line: &str, code: i32) -> ! {
    let _guard = EMIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    std::process::exit(code);
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err((msg, header)) => {
            eprintln!("error: {msg}\n{USAGE}");
            emit_and_exit(&error_line(&header, &msg, None), 2);
        }
    };
    let header = Header {
        transport: Some(args.transport()),
        workload: Some(args.workload.name()),
        count: Some(args.count),
        size: Some(args.size),
    };

    // Messages the pubsub subscriber has received so far, for the watchdog's error line.
    let received = Arc::new(AtomicUsize::new(0));
    start_watchdog(&args, header.clone(), received.clone());

    let result = match args.workload {
        Workload::Pub => run_pub(&args),
        Workload::PubSub => run_pubsub(&args, &received),
        Workload::ReqRep => run_reqrep(&args),
        Workload::Svc => run_svc(&args),
        Workload::JsPub => run_jspub(&args),
        Workload::JsPubAsync => run_jspubasync(&args),
        Workload::JsConsume => run_jsconsume(&args, &received),
        Workload::JsOrdered => run_jsordered(&args, &received),
        Workload::KvPut => run_kvput(&args),
        Workload::KvGet => run_kvget(&args),
        Workload::ObjPut => run_objput(&args),
        Workload::ObjGet => run_objget(&args),
    };
    match result {
        Ok(outcome) => emit_and_exit(&result_line(&args, &outcome), 0),
        Err(msg) => {
            eprintln!("error: {msg}");
            let counts = matches!(
                args.workload,
                Workload::PubSub | Workload::JsConsume | Workload::JsOrdered
            );
            let got = counts.then(|| received.load(Ordering::Relaxed));
            emit_and_exit(&error_line(&header, &msg, got), 1);
        }
    }
}

/// The hard deadline: prints the error line and exits when the run takes too long.
fn start_watchdog(args: &Args, header: Header, received: Arc<AtomicUsize>) {
    let deadline = args.deadline;
    let timeout_s = args.timeout_s;
    let pubsub = matches!(
        args.workload,
        Workload::PubSub | Workload::JsConsume | Workload::JsOrdered
    );
    let spawned = std::thread::Builder::new()
        .name("bench-watchdog".into())
        .spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            let msg =
                format!("timed out: the run took longer than {timeout_s} s (PEERS_TIMEOUT_S)");
            eprintln!("error: {msg}");
            let got = pubsub.then(|| received.load(Ordering::Relaxed));
            emit_and_exit(&error_line(&header, &msg, got), 1);
        });
    if let Err(e) = spawned {
        // Without a watchdog every wait below is still bounded by its own timeout.
        eprintln!("warning: could not start the watchdog thread: {e}");
    }
}

type Res<T> = Result<T, String>;

fn ctx<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

fn connect(args: &Args, opts: Options) -> Res<Connection> {
    opts.ws_compression(args.ws_compression)
        .connect(args.url.as_str())
        .map_err(ctx("connect"))
}

fn run_pub(args: &Args) -> Res<Outcome> {
    let nc = connect(args, Options::new())?;
    nc.flush().map_err(ctx("flush"))?; // connected and answering, before timing
    let payload = args.payload();
    let start = Instant::now();
    for _ in 0..args.count {
        nc.publish(SUBJECT_PUB, &payload).map_err(ctx("publish"))?;
    }
    nc.flush_timeout(args.left()).map_err(ctx("flush"))?;
    let secs = start.elapsed().as_secs_f64();
    log_stats("publisher", &nc);
    Ok(Outcome {
        secs,
        ..Outcome::default()
    })
}

fn run_pubsub(args: &Args, received: &Arc<AtomicUsize>) -> Res<Outcome> {
    // Pending limits 0, 0 = unlimited: with the defaults (500,000 messages / 64 MiB) a burst
    // of a million messages can outrun the reading thread and be dropped as a slow consumer;
    // the contract allows no loss.
    let sub_nc = connect(args, Options::new().pending_limits(0, 0))?;
    let sub = sub_nc.subscribe(SUBJECT_PUBSUB).map_err(ctx("subscribe"))?;
    let idle = (0..args.idle_subs)
        .map(|i| sub_nc.subscribe(&format!("peers.idle.{i}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ctx("subscribe the idle subscriptions"))?;
    // The round trip confirms the server has registered the subscription.
    sub_nc.flush().map_err(ctx("flush the subscription"))?;
    let pub_nc = connect(args, Options::new())?;
    pub_nc.flush().map_err(ctx("flush"))?;
    let payload = args.payload();

    let count = args.count;
    let size = args.size;
    let counter = received.clone();
    let (done_tx, done_rx) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("bench-subscriber".into())
        .spawn(move || {
            let mut n = 0usize;
            let mut wrong_size = 0usize;
            // Blocks for each message; the iterator ends only if the connection closes, and
            // the watchdog bounds the whole wait.
            for msg in sub.iter() {
                if msg.payload.len() != size {
                    wrong_size += 1;
                }
                n += 1;
                counter.store(n, Ordering::Relaxed);
                if n == count {
                    break;
                }
            }
            let finished = Instant::now();
            let _ = done_tx.send((n, wrong_size, finished, sub.dropped()));
        })
        .map_err(ctx("start the subscriber thread"))?;

    let start = Instant::now();
    for _ in 0..args.count {
        pub_nc
            .publish(SUBJECT_PUBSUB, &payload)
            .map_err(ctx("publish"))?;
    }
    pub_nc.flush_timeout(args.left()).map_err(ctx("flush"))?;
    let (n, wrong_size, finished, dropped) = done_rx
        .recv_timeout(args.left())
        .map_err(|_| "the subscriber thread did not finish".to_string())?;
    let _ = reader.join();
    drop(idle);
    log_stats("publisher", &pub_nc);
    log_stats("subscriber", &sub_nc);
    if n != count || wrong_size != 0 || dropped != 0 {
        return Err(format!(
            "received {n} of {count} ({wrong_size} of the wrong size, {dropped} dropped); {}",
            sub_nc
                .close_reason()
                .map(|e| format!("the subscriber connection closed: {e}"))
                .unwrap_or_else(|| "the subscription ended".into())
        ));
    }
    Ok(Outcome {
        secs: finished.duration_since(start).as_secs_f64(),
        received: Some(n),
        ..Outcome::default()
    })
}

/// Sends COUNT sequential requests to `subject` and checks each reply's size; the timed part.
fn time_requests(args: &Args, subject: &str) -> Res<(Connection, Outcome)> {
    let req_nc = connect(args, Options::new())?;
    let payload = args.payload();
    let mut lat_ns: Vec<u64> = Vec::with_capacity(args.count);
    let start = Instant::now();
    for i in 0..args.count {
        let t0 = Instant::now();
        let reply = req_nc
            .request_timeout(subject, &payload, REQUEST_TIMEOUT)
            .map_err(|e| format!("request {} of {}: {e}", i + 1, args.count))?;
        lat_ns.push(t0.elapsed().as_nanos() as u64);
        if reply.payload.len() != args.size {
            return Err(format!(
                "reply of {} bytes, expected {}",
                reply.payload.len(),
                args.size
            ));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat_ns.sort_unstable();
    let outcome = Outcome {
        secs,
        latencies_ns: Some(lat_ns),
        ..Outcome::default()
    };
    Ok((req_nc, outcome))
}

#[cfg(feature = "service")]
fn run_svc(args: &Args) -> Res<Outcome> {
    let svc_nc = connect(args, Options::new())?;
    let svc = svc_nc
        .services()
        .builder("peers", "1.0.0")
        .start()
        .map_err(ctx("start the service"))?;
    svc.endpoint("echo")
        .subject(SUBJECT_SVC)
        .handler(|req| {
            if let Err(e) = req.respond(req.payload()) {
                eprintln!("respond: {e}");
            }
        })
        .map_err(ctx("add the endpoint"))?;
    let (req_nc, outcome) = time_requests(args, SUBJECT_SVC)?;
    let stats = svc.stats();
    let n = stats.endpoints[0].num_requests;
    if n != args.count as u64 {
        return Err(format!(
            "the endpoint counted {n} of {} requests",
            args.count
        ));
    }
    eprintln!(
        "service: {n} requests, average processing {:?}",
        stats.endpoints[0].average_processing_time
    );
    svc.stop().map_err(ctx("stop the service"))?;
    log_stats("requester", &req_nc);
    log_stats("service", &svc_nc);
    Ok(outcome)
}

#[cfg(not(feature = "service"))]
fn run_svc(_: &Args) -> Res<Outcome> {
    Err("unsupported workload: svc needs the cargo feature 'service'".into())
}

fn run_reqrep(args: &Args) -> Res<Outcome> {
    let resp_nc = connect(args, Options::new())?;
    let sub = resp_nc.subscribe(SUBJECT_REQ).map_err(ctx("subscribe"))?;
    resp_nc.flush().map_err(ctx("flush the subscription"))?;
    let count = args.count;
    let responder = std::thread::Builder::new()
        .name("bench-responder".into())
        .spawn(move || -> Res<usize> {
            let mut n = 0usize;
            for msg in sub.iter().take(count) {
                msg.respond(&msg.payload).map_err(ctx("respond"))?;
                n += 1;
            }
            Ok(n)
        })
        .map_err(ctx("start the responder thread"))?;

    let (req_nc, outcome) = time_requests(args, SUBJECT_REQ)?;
    match responder.join() {
        Ok(Ok(n)) if n == count => {}
        Ok(Ok(n)) => return Err(format!("the responder answered {n} of {count}")),
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("the responder thread panicked".into()),
    }
    log_stats("requester", &req_nc);
    log_stats("responder", &resp_nc);
    Ok(outcome)
}

// ---- JetStream ----

/// The stream `PEERS` (subjects `peers.js.>`, memory, one replica), deleted first if there.
fn js_setup(args: &Args, window: usize) -> Res<(Connection, JetStream)> {
    let nc = connect(args, Options::new())?;
    let js = nc
        .jetstream_with(
            JetStreamOptions::new()
                .timeout(Duration::from_secs(10))
                .publish_async_max_pending(window),
        )
        .map_err(ctx("jetstream"))?;
    match js.delete_stream(STREAM) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::StreamNotFound => {}
        Err(e) => return Err(format!("delete stream {STREAM}: {e}")),
    }
    js.create_stream(
        StreamConfig::new(STREAM)
            .subjects(["peers.js.>"])
            .storage(StorageType::Memory)
            .replicas(1),
    )
    .map_err(ctx("create stream"))?;
    nc.flush().map_err(ctx("flush"))?;
    Ok((nc, js))
}

/// Publishes COUNT messages with a window of outstanding acks, checking every ack.
fn js_fill(args: &Args, js: &JetStream) -> Res<()> {
    let payload = args.payload();
    let mut futures = std::collections::VecDeque::with_capacity(JS_WINDOW + 1);
    let mut last = 0u64;
    let mut check = |f: &mut natsws::jetstream::PubAckFuture| -> Res<()> {
        let ack = f.wait(args.left()).map_err(ctx("publish ack"))?;
        if ack.stream != STREAM || ack.sequence == 0 || ack.sequence > args.count as u64 {
            return Err(format!("unexpected ack {ack:?}"));
        }
        last = last.max(ack.sequence);
        Ok(())
    };
    for _ in 0..args.count {
        futures.push_back(
            js.publish_async(SUBJECT_JS, &payload)
                .map_err(ctx("publish_async"))?,
        );
        if futures.len() > JS_WINDOW {
            let mut f = futures.pop_front().expect("not empty");
            check(&mut f)?;
        }
    }
    for mut f in futures {
        check(&mut f)?;
    }
    if last != args.count as u64 {
        return Err(format!("last sequence {last}, expected {}", args.count));
    }
    Ok(())
}

fn run_jspub(args: &Args) -> Res<Outcome> {
    let (nc, js) = js_setup(args, JS_WINDOW)?;
    let payload = args.payload();
    let mut lat_ns: Vec<u64> = Vec::with_capacity(args.count);
    let start = Instant::now();
    for i in 0..args.count {
        let t0 = Instant::now();
        let ack = js
            .publish(SUBJECT_JS, &payload)
            .map_err(|e| format!("publish {} of {}: {e}", i + 1, args.count))?;
        lat_ns.push(t0.elapsed().as_nanos() as u64);
        if ack.stream != STREAM || ack.sequence != i as u64 + 1 {
            return Err(format!("unexpected ack {ack:?} for publish {}", i + 1));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    log_stats("publisher", &nc);
    lat_ns.sort_unstable();
    Ok(Outcome {
        secs,
        latencies_ns: Some(lat_ns),
        ..Outcome::default()
    })
}

fn run_jspubasync(args: &Args) -> Res<Outcome> {
    let (nc, js) = js_setup(args, JS_WINDOW)?;
    let start = Instant::now();
    js_fill(args, &js)?;
    let secs = start.elapsed().as_secs_f64();
    log_stats("publisher", &nc);
    Ok(Outcome {
        secs,
        window: Some(JS_WINDOW),
        ..Outcome::default()
    })
}

fn run_jsconsume(args: &Args, received: &Arc<AtomicUsize>) -> Res<Outcome> {
    let (nc, js) = js_setup(args, JS_WINDOW)?;
    js_fill(args, &js)?;
    let consumer = js
        .create_consumer(
            STREAM,
            ConsumerConfig::durable("C")
                .ack_policy(AckPolicy::Explicit)
                .deliver_policy(DeliverPolicy::All)
                .max_ack_pending(1000),
        )
        .map_err(ctx("create consumer"))?;
    nc.flush().map_err(ctx("flush"))?;
    let start = Instant::now();
    let mut msgs = consumer
        .messages(ConsumeOptions::new())
        .map_err(ctx("consume"))?;
    for i in 0..args.count {
        let m = msgs
            .next_timeout(args.left())
            .map_err(|e| format!("message {} of {}: {e}", i + 1, args.count))?;
        if m.payload().len() != args.size {
            return Err(format!("message {} has {} bytes", i + 1, m.payload().len()));
        }
        m.ack().map_err(ctx("ack"))?;
        received.store(i + 1, Ordering::Relaxed);
    }
    nc.flush_timeout(args.left())
        .map_err(ctx("flush the acks"))?;
    let secs = start.elapsed().as_secs_f64();
    log_stats("consumer", &nc);
    Ok(Outcome {
        secs,
        received: Some(received.load(Ordering::Relaxed)),
        ..Outcome::default()
    })
}

fn run_jsordered(args: &Args, received: &Arc<AtomicUsize>) -> Res<Outcome> {
    let (nc, js) = js_setup(args, JS_WINDOW)?;
    js_fill(args, &js)?;
    nc.flush().map_err(ctx("flush"))?;
    let start = Instant::now();
    let oc = js
        .ordered_consumer(STREAM, OrderedConsumerConfig::new())
        .map_err(ctx("ordered consumer"))?;
    let mut msgs = oc.messages(ConsumeOptions::new()).map_err(ctx("consume"))?;
    for i in 0..args.count {
        let m = msgs
            .next_timeout(args.left())
            .map_err(|e| format!("message {} of {}: {e}", i + 1, args.count))?;
        if m.payload().len() != args.size {
            return Err(format!("message {} has {} bytes", i + 1, m.payload().len()));
        }
        received.store(i + 1, Ordering::Relaxed);
    }
    let secs = start.elapsed().as_secs_f64();
    if msgs.last_stream_sequence() != args.count as u64 {
        return Err(format!(
            "last stream sequence {}, expected {}",
            msgs.last_stream_sequence(),
            args.count
        ));
    }
    log_stats("consumer", &nc);
    Ok(Outcome {
        secs,
        received: Some(received.load(Ordering::Relaxed)),
        ..Outcome::default()
    })
}

// ---- Key-Value and Object Store ----

const BUCKET: &str = "peers";
const KV_KEYS: usize = 1000;

fn kv_setup(args: &Args) -> Res<(Connection, natsws::kv::KeyValue)> {
    let (nc, js) = js_setup(args, JS_WINDOW)?;
    match js.delete_key_value(BUCKET) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BucketNotFound => {}
        Err(e) => return Err(format!("delete bucket {BUCKET}: {e}")),
    }
    let kv = js
        .create_key_value(KvConfig::new(BUCKET).storage(StorageType::Memory))
        .map_err(ctx("create bucket"))?;
    Ok((nc, kv))
}

fn time_each(args: &Args, mut op: impl FnMut(usize) -> Res<()>) -> Res<Outcome> {
    let mut lat_ns: Vec<u64> = Vec::with_capacity(args.count);
    let start = Instant::now();
    for i in 0..args.count {
        let t0 = Instant::now();
        op(i)?;
        lat_ns.push(t0.elapsed().as_nanos() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    lat_ns.sort_unstable();
    Ok(Outcome {
        secs,
        latencies_ns: Some(lat_ns),
        ..Outcome::default()
    })
}

fn run_kvput(args: &Args) -> Res<Outcome> {
    let (nc, kv) = kv_setup(args)?;
    let payload = args.payload();
    let keys: Vec<String> = (0..KV_KEYS).map(|i| format!("k{i}")).collect();
    let out = time_each(args, |i| {
        let rev = kv
            .put(&keys[i % KV_KEYS], &payload)
            .map_err(|e| format!("put {} of {}: {e}", i + 1, args.count))?;
        if rev != i as u64 + 1 {
            return Err(format!("put {} got revision {rev}", i + 1));
        }
        Ok(())
    })?;
    log_stats("kv", &nc);
    Ok(out)
}

fn run_kvget(args: &Args) -> Res<Outcome> {
    let (nc, kv) = kv_setup(args)?;
    let payload = args.payload();
    let keys: Vec<String> = (0..KV_KEYS).map(|i| format!("k{i}")).collect();
    for k in &keys {
        kv.put(k, &payload).map_err(ctx("fill"))?;
    }
    let out = time_each(args, |i| {
        let e = kv
            .get(&keys[i % KV_KEYS])
            .map_err(|e| format!("get {} of {}: {e}", i + 1, args.count))?;
        if e.value.len() != args.size {
            return Err(format!("get {} has {} bytes", i + 1, e.value.len()));
        }
        Ok(())
    })?;
    log_stats("kv", &nc);
    Ok(out)
}

/// SIZE bytes of `a..z` repeated, generated as they are read (copied from a 26 KiB pattern).
struct Letters {
    pos: usize,
    left: usize,
    pattern: Vec<u8>,
}

impl Letters {
    fn new(size: usize) -> Letters {
        Letters {
            pos: 0,
            left: size,
            pattern: (0..26 * 1024).map(|i| b'a' + (i % 26) as u8).collect(),
        }
    }
}

impl std::io::Read for Letters {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(self.left);
        let mut n = 0;
        while n < want {
            let from = (self.pos + n) % 26;
            let k = (want - n).min(self.pattern.len() - from);
            buf[n..n + k].copy_from_slice(&self.pattern[from..from + k]);
            n += k;
        }
        self.pos += n;
        self.left -= n;
        Ok(n)
    }
}

fn obj_setup(args: &Args) -> Res<(Connection, natsws::object_store::ObjectStore)> {
    let (nc, js) = js_setup(args, JS_WINDOW)?;
    match js.delete_object_store(BUCKET) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BucketNotFound => {}
        Err(e) => return Err(format!("delete object store {BUCKET}: {e}")),
    }
    let store = js
        .create_object_store(ObjConfig::new(BUCKET).storage(StorageType::Memory))
        .map_err(ctx("create object store"))?;
    Ok((nc, store))
}

fn put_objects(args: &Args, store: &natsws::object_store::ObjectStore) -> Res<()> {
    for i in 0..args.count {
        let mut r = Letters::new(args.size);
        let info = store
            .put(ObjectMeta::new(format!("peers-{i}")), &mut r)
            .map_err(|e| format!("put {} of {}: {e}", i + 1, args.count))?;
        if info.size != args.size as u64 {
            return Err(format!("object {} stored {} bytes", i + 1, info.size));
        }
    }
    Ok(())
}

fn run_objput(args: &Args) -> Res<Outcome> {
    let (nc, store) = obj_setup(args)?;
    let start = Instant::now();
    put_objects(args, &store)?;
    let secs = start.elapsed().as_secs_f64();
    log_stats("objects", &nc);
    Ok(Outcome {
        secs,
        window: Some(JS_WINDOW),
        ..Outcome::default()
    })
}

fn run_objget(args: &Args) -> Res<Outcome> {
    let (nc, store) = obj_setup(args)?;
    put_objects(args, &store)?;
    nc.flush().map_err(ctx("flush"))?;
    let start = Instant::now();
    for i in 0..args.count {
        let mut r = store
            .get(&format!("peers-{i}"))
            .map_err(|e| format!("get {} of {}: {e}", i + 1, args.count))?;
        let n = std::io::copy(&mut r, &mut std::io::sink())
            .map_err(|e| format!("reading object {}: {e}", i + 1))?;
        if n != args.size as u64 {
            return Err(format!("object {} read {n} bytes", i + 1));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    log_stats("objects", &nc);
    Ok(Outcome {
        secs,
        ..Outcome::default()
    })
}

fn log_stats(who: &str, nc: &Connection) {
    let s = nc.stats();
    eprintln!(
        "{who}: out {} msgs / {} B, in {} msgs / {} B",
        s.out_msgs, s.out_bytes, s.in_msgs, s.in_bytes
    );
}

/// Nearest-rank percentile of an ascending slice, in microseconds.
fn percentile_us(sorted_ns: &[u64], q: f64) -> Option<f64> {
    if sorted_ns.is_empty() {
        return None;
    }
    let rank = (q * sorted_ns.len() as f64).ceil() as usize;
    Some(sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1e3)
}

// ---- command line ----

fn parse_args() -> Result<Args, (String, Header)> {
    let mut header = Header {
        transport: None,
        workload: None,
        count: None,
        size: None,
    };
    let mut url = None;
    let mut workload = None;
    let mut ws_compression = false;
    let mut idle_subs = 0;
    let mut argv = std::env::args_os().skip(1);
    while let Some(key) = argv.next() {
        let key = key.to_string_lossy().into_owned();
        let Some(value) = argv.next() else {
            return Err((format!("{key} needs a value"), header));
        };
        let Ok(value) = value.into_string() else {
            return Err((format!("the value of {key} is not valid UTF-8"), header));
        };
        match key.as_str() {
            "--url" => {
                header.transport = Some(transport_of(&value));
                url = Some(value);
            }
            "--workload" => {
                let w = match value.as_str() {
                    "pub" => Workload::Pub,
                    "pubsub" => Workload::PubSub,
                    "reqrep" => Workload::ReqRep,
                    "svc" => Workload::Svc,
                    "jspub" => Workload::JsPub,
                    "jspubasync" => Workload::JsPubAsync,
                    "jsconsume" => Workload::JsConsume,
                    "jsordered" => Workload::JsOrdered,
                    "kvput" => Workload::KvPut,
                    "kvget" => Workload::KvGet,
                    "objput" => Workload::ObjPut,
                    "objget" => Workload::ObjGet,
                    _ => {
                        return Err((
                            format!("unknown workload '{value}': unsupported workload"),
                            header,
                        ))
                    }
                };
                header.workload = Some(w.name());
                workload = Some(w);
            }
            "--count" => match value.parse::<usize>() {
                Ok(n) if n > 0 => header.count = Some(n),
                _ => {
                    return Err((
                        format!("--count must be a positive integer, not '{value}'"),
                        header,
                    ))
                }
            },
            "--size" => match value.parse::<usize>() {
                Ok(n) => header.size = Some(n),
                _ => {
                    return Err((
                        format!("--size must be a whole number, not '{value}'"),
                        header,
                    ))
                }
            },
            "--ws-compression" => {
                ws_compression = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => {
                        return Err((
                            format!("--ws-compression must be on or off, not '{value}'"),
                            header,
                        ))
                    }
                }
            }
            "--idle-subs" => {
                idle_subs = match value.parse() {
                    Ok(n) => n,
                    Err(_) => {
                        return Err((
                            format!("--idle-subs must be a whole number, not '{value}'"),
                            header,
                        ))
                    }
                }
            }
            _ => return Err((format!("unknown argument '{key}'"), header)),
        }
    }
    let timeout_s = match std::env::var("PEERS_TIMEOUT_S") {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => s,
            _ => {
                return Err((
                    format!("PEERS_TIMEOUT_S must be a positive number of seconds, not '{v}'"),
                    header,
                ))
            }
        },
        Err(_) => DEFAULT_TIMEOUT_S as f64,
    };
    let (Some(url), Some(workload), Some(count), Some(size)) =
        (url, workload, header.count, header.size)
    else {
        return Err((
            "--url, --workload, --count and --size are all required".into(),
            header,
        ));
    };
    Ok(Args {
        url,
        workload,
        count,
        size,
        deadline: Instant::now() + Duration::from_secs_f64(timeout_s),
        timeout_s,
        ws_compression,
        idle_subs,
    })
}

// ---- the JSON line ----

fn lib() -> String {
    format!("natsws {}", env!("CARGO_PKG_VERSION"))
}

fn result_line(args: &Args, o: &Outcome) -> String {
    let count = args.count as f64;
    let (mb_per_s, p50, p99) = match &o.latencies_ns {
        Some(lat) => (
            (args.workload != Workload::ReqRep).then(|| count * args.size as f64 / o.secs / 1e6),
            percentile_us(lat, 0.50),
            percentile_us(lat, 0.99),
        ),
        None => (Some(count * args.size as f64 / o.secs / 1e6), None, None),
    };
    let mut j = Json::new();
    j.str("client", Some(CLIENT));
    j.str("transport", Some(args.transport()));
    j.str("workload", Some(args.workload.name()));
    j.num("count", Some(count));
    j.num("size", Some(args.size as f64));
    j.num("secs", Some(o.secs));
    j.num("msgs_per_s", Some(count / o.secs));
    j.num("mb_per_s", mb_per_s);
    j.num("p50_us", p50);
    j.num("p99_us", p99);
    if let Some(r) = o.received {
        j.num("received", Some(r as f64));
    }
    if let Some(w) = o.window {
        j.num("window", Some(w as f64));
    }
    j.str("lib", Some(&lib()));
    j.finish()
}

fn error_line(h: &Header, error: &str, received: Option<usize>) -> String {
    let mut j = Json::new();
    j.str("client", Some(CLIENT));
    j.str("transport", h.transport);
    j.str("workload", h.workload);
    j.num("count", h.count.map(|n| n as f64));
    j.num("size", h.size.map(|n| n as f64));
    for key in ["secs", "msgs_per_s", "mb_per_s", "p50_us", "p99_us"] {
        j.num(key, None);
    }
    if let Some(r) = received {
        j.num("received", Some(r as f64));
    }
    j.str("lib", Some(&lib()));
    j.str("error", Some(error));
    j.finish()
}

/// A one-line JSON object writer: strings escaped, non-finite numbers and `None` as null.
struct Json(String);

impl Json {
    fn new() -> Json {
        Json(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        let _ = write!(self.0, "\"{key}\":");
    }

    fn str(&mut self, key: &str, value: Option<&str>) {
        self.key(key);
        let Some(v) = value else {
            self.0.push_str("null");
            return;
        };
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    fn num(&mut self, key: &str, value: Option<f64>) {
        self.key(key);
        match value {
            Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => {
                let _ = write!(self.0, "{}", v as i64);
            }
            Some(v) if v.is_finite() => {
                let _ = write!(self.0, "{v:.6}");
            }
            _ => self.0.push_str("null"),
        }
    }

    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn letters_match_the_payload() {
        use std::io::Read;
        for size in [0, 1, 25, 26, 27, 26 * 1024 + 5, 100_000] {
            let mut out = Vec::new();
            let mut r = super::Letters::new(size);
            let mut buf = [0u8; 777];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            let want: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(out, want, "size {size}");
        }
    }
}
