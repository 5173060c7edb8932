//! Reconnecting to one server over every transport: kill -9 and restart cycles, requests in
//! flight, the reconnect buffer, giving up, `force_reconnect`, retrying the first connect,
//! credentials per attempt, and a pool mixing tcp and WebSocket URLs.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use natsws::test_server::jwt::Operator;
use natsws::test_server::{NatsServer, Transport};
use natsws::{Connection, ErrorKind, Event, Message, Options, State, Subscription};

each_transport!(
    kill_restart_cycles,
    requests_wait_across_reconnect,
    gives_up_after_max_reconnects,
    reconnect_buffer_full,
    reconnect_buffer_off,
    force_reconnect,
    retry_on_initial_connect,
    connected_when_connect_returns,
    same_auth_error_twice_closes,
    fresh_credentials_on_reconnect,
);

fn seq(m: &Message) -> u32 {
    u32::from_be_bytes(m.payload[..4].try_into().unwrap())
}

/// Receives exactly the sequence numbers `range`, in order.
#[track_caller]
fn expect_seqs(sub: &Subscription, range: std::ops::Range<u32>, what: &str) {
    for want in range {
        let m = sub
            .next_timeout(WAIT)
            .unwrap_or_else(|e| panic!("{what}: waiting for #{want}: {e}"));
        assert_eq!(seq(&m), want, "{what}: out of order or lost");
    }
}

/// The `max` the server holds for the subscription `subject` (its auto-unsubscribe count),
/// from the monitoring endpoint `/connz?subs=detail`.
fn server_sub_max(server: &NatsServer, subject: &str) -> Option<u64> {
    let ports_dir = server.dir().join("ports");
    let file = std::fs::read_dir(&ports_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "ports"))
        .expect("a ports file");
    let ports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mon = ports["monitoring"][0].as_str().expect("a monitoring port");
    let mut s = TcpStream::connect(("127.0.0.1", port_of(mon))).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /connz?subs=detail HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").expect("an HTTP response").1;
    let connz: serde_json::Value = serde_json::from_str(body).unwrap();
    connz["connections"]
        .as_array()?
        .iter()
        .flat_map(|c| c["subscriptions_list_detail"].as_array().cloned())
        .flatten()
        .find(|d| d["subject"] == subject)
        .and_then(|d| d["max"].as_u64())
}

/// Kill -9 and restart the server 50 times. Per cycle: a confirmed batch while connected
/// arrives on the same connection; after the kill, a batch published while down is buffered
/// (flush fails at once) and arrives, complete and in order, after the reconnect — on a plain,
/// a queue and an auto-unsubscribe subscription, whose remaining count the server gets back.
fn kill_restart_cycles(t: Transport) {
    const CYCLES: u32 = 50;
    const BATCH: u32 = 20;
    let started = Instant::now();
    let mut c = Ctx::with_config(t, "http_port: -1");
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let events = nc.events();
    let plain = nc.subscribe("cyc.plain").unwrap();
    let queue = nc.queue_subscribe("cyc.queue", "workers").unwrap();
    let auto = nc.subscribe("cyc.auto").unwrap();
    // One message per cycle (published while down); it ends with the last cycle.
    auto.unsubscribe_after(CYCLES as u64).unwrap();
    nc.flush().unwrap();
    assert_eq!(server_sub_max(&c.server, "cyc.auto"), Some(CYCLES as u64));

    let (mut next_seq, mut confirmed, mut during, mut received_after) = (0u32, 0u32, 0u32, 0u32);
    let mut outage = Duration::ZERO;
    for cycle in 0..CYCLES {
        let what = |s: &str| format!("{} cycle {cycle}: {s}", t.name());
        // (a) Connected: a confirmed batch reaches our own subscriptions.
        let first = next_seq;
        for _ in 0..BATCH {
            nc.publish("cyc.plain", next_seq.to_be_bytes()).unwrap();
            nc.publish("cyc.queue", next_seq.to_be_bytes()).unwrap();
            next_seq += 1;
        }
        nc.flush().unwrap();
        expect_seqs(&plain, first..next_seq, &what("plain, connected"));
        expect_seqs(&queue, first..next_seq, &what("queue, connected"));
        confirmed += 2 * BATCH;

        // (b) Kill -9.
        c.server.stop();
        let down_at = Instant::now();
        let reason = wait_disconnected(&events);
        assert_ne!(reason.kind(), ErrorKind::Closed, "{reason}");
        // The event means the connection is down already.
        assert_eq!(nc.state(), State::Reconnecting, "{}", what("state"));

        // (c) Down: publishes are buffered, a flush fails at once.
        let first = next_seq;
        for _ in 0..BATCH {
            nc.publish("cyc.plain", next_seq.to_be_bytes()).unwrap();
            nc.publish("cyc.queue", next_seq.to_be_bytes()).unwrap();
            next_seq += 1;
        }
        nc.publish("cyc.auto", cycle.to_be_bytes()).unwrap();
        during += 2 * BATCH + 1;
        let f = Instant::now();
        assert_kind(nc.flush(), ErrorKind::Disconnected);
        assert!(f.elapsed() < Duration::from_secs(1), "{:?}", f.elapsed());

        // (d) Restart on the same ports.
        c.server.restart().unwrap();
        wait_reconnected(&events);
        outage += down_at.elapsed();
        // The event means the connection is up already.
        assert_eq!(nc.state(), State::Connected, "{}", what("state"));

        // (e) The buffered batch arrives after the replayed subscriptions.
        expect_seqs(&plain, first..next_seq, &what("plain, buffered"));
        expect_seqs(&queue, first..next_seq, &what("queue, buffered"));
        let m = next(&auto);
        assert_eq!(seq(&m), cycle, "{}", what("auto"));
        received_after += 2 * BATCH + 1;
        if cycle + 1 < CYCLES {
            // The replay carried the remaining count, not the original one.
            assert_eq!(
                server_sub_max(&c.server, "cyc.auto"),
                Some((CYCLES - cycle) as u64),
                "{}",
                what("remaining auto-unsubscribe count")
            );
        }
        assert_eq!(nc.state(), State::Connected);
    }
    // The auto-unsubscribe subscription ended after its count.
    let e = auto.next_timeout(WAIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsubscribed, "{e}");
    nc.publish("cyc.auto", u32::MAX.to_be_bytes()).unwrap();
    assert_quiet(&nc, &plain);
    assert_quiet(&nc, &queue);
    assert_eq!(server_sub_max(&c.server, "cyc.auto"), None);
    eprintln!(
        "{}: {CYCLES} kill/restart cycles survived in {:?} (outages {:?} in all): {confirmed} \
         confirmed publishes received, {during} published during outages, {received_after} \
         of them received after reconnecting",
        t.name(),
        started.elapsed(),
        outage
    );
    assert_eq!(during, received_after);
    nc.close().unwrap();
}

/// Requests waiting when the server dies keep waiting, each until its own deadline: one is
/// answered after the reconnect (the responder, on another connection, replies once the
/// requester's inbox subscription is back), one whose responder never answers times out at its
/// deadline rather than failing early.
fn requests_wait_across_reconnect(t: Transport) {
    const SHORT: Duration = Duration::from_millis(1500);
    let mut c = Ctx::new(t);
    let requester = c.connect_with(fast_reconnect(c.opts()));
    let responder = c.connect_with(fast_reconnect(c.opts()));
    let (req_events, resp_events) = (requester.events(), responder.events());
    let slow = responder.subscribe("svc.slow").unwrap();
    let mute = responder.subscribe("svc.mute").unwrap();
    responder.flush().unwrap();
    let ask = |subject: &'static str, timeout: Duration| {
        let nc = requester.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            (nc.request_timeout(subject, "q", timeout), start.elapsed())
        })
    };
    let answered = ask("svc.slow", WAIT);
    let unanswered = ask("svc.mute", SHORT);
    // Both requests have reached the server.
    let req = next(&slow);
    next(&mute);

    c.server.stop();
    wait_disconnected(&req_events);
    wait_disconnected(&resp_events);
    c.server.restart().unwrap();
    wait_reconnected(&req_events);
    wait_reconnected(&resp_events);
    // The requester's inbox subscription has been replayed and processed.
    requester.flush().unwrap();
    responder
        .publish(req.reply.as_deref().unwrap(), "answer")
        .unwrap();

    let (r, took) = answered.join().unwrap();
    assert_eq!(&r.unwrap().payload[..], b"answer");
    assert!(took < WAIT, "{took:?}");
    let (r, took) = unanswered.join().unwrap();
    assert_kind(r, ErrorKind::Timeout);
    assert!(
        took >= SHORT && took < SHORT + Duration::from_secs(2),
        "timed out after {took:?}, deadline {SHORT:?}"
    );
    requester.close().unwrap();
    responder.close().unwrap();
}

/// With `max_reconnects(Some(3))` and the server gone for good, the connection closes: the
/// `Closed` event and `closed()` carry the last error, and everything fails fast with Closed.
fn gives_up_after_max_reconnects(t: Transport) {
    let mut c = Ctx::new(t);
    let nc = c.connect_with(fast_reconnect(c.opts()).max_reconnects(Some(3)));
    let events = nc.events();
    let sub = nc.subscribe("gone").unwrap();
    nc.flush().unwrap();
    c.server.stop();
    let start = Instant::now();
    let mut disconnected = false;
    let reason = wait_event(&events, |e| match e {
        Event::Disconnected { .. } => {
            disconnected = true;
            None
        }
        Event::Reconnected { url } => panic!("reconnected to {url} with the server down"),
        Event::Closed { reason } => Some(reason.clone()),
        _ => None,
    });
    let took = start.elapsed();
    assert!(disconnected, "no Disconnected before Closed");
    let reason = reason.expect("closed on an error");
    assert_eq!(reason.kind(), ErrorKind::Io, "{reason}");
    let why = nc
        .closed_timeout(WAIT)
        .expect("closed in time")
        .expect("closed() returns why");
    assert_eq!(why.kind(), reason.kind(), "{why}");
    assert_eq!(nc.state(), State::Closed);
    assert_eq!(nc.connected_url(), None);
    assert!(took < Duration::from_secs(5), "gave up after {took:?}");
    let fast = Instant::now();
    assert_kind(nc.publish("gone", "x"), ErrorKind::Closed);
    assert_kind(nc.flush(), ErrorKind::Closed);
    assert_kind(
        nc.request_timeout("gone", "x", Duration::from_secs(5)),
        ErrorKind::Closed,
    );
    assert_kind(nc.subscribe("gone.too"), ErrorKind::Closed);
    assert_kind(nc.force_reconnect(), ErrorKind::Closed);
    assert!(
        fast.elapsed() < Duration::from_secs(1),
        "{:?}",
        fast.elapsed()
    );
    assert_kind(sub.next_timeout(WAIT), ErrorKind::Closed);
    nc.close().unwrap();
}

/// A 4 KiB reconnect buffer takes a few 1 KiB publishes, then refuses with BufferFull; after
/// the reconnect the accepted ones arrive and publishing works again.
fn reconnect_buffer_full(t: Transport) {
    let mut c = Ctx::new(t);
    let nc = c.connect_with(fast_reconnect(c.opts()).reconnect_buffer_size(4096));
    let events = nc.events();
    let sub = nc.subscribe("buf.full").unwrap();
    nc.flush().unwrap();
    c.server.stop();
    wait_disconnected(&events);
    let payload = |i: u32| {
        let mut p = i.to_be_bytes().to_vec();
        p.resize(1024, b'x');
        p
    };
    let mut accepted = 0u32;
    let err = loop {
        match nc.publish("buf.full", payload(accepted)) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 10, "4 KiB of buffer took {accepted} KiB");
    };
    assert_eq!(err.kind(), ErrorKind::BufferFull, "{err}");
    assert!((1..=4).contains(&accepted), "{accepted} accepted");
    // Still full; a refused publish does not change what is buffered.
    assert_kind(nc.publish("buf.full", payload(99)), ErrorKind::BufferFull);
    c.server.restart().unwrap();
    wait_reconnected(&events);
    expect_seqs(&sub, 0..accepted, "buffered before BufferFull");
    assert_quiet(&nc, &sub);
    for i in 0..20 {
        nc.publish("buf.full", payload(i)).unwrap();
    }
    expect_seqs(&sub, 0..20, "after the reconnect");
    nc.close().unwrap();
}

/// `reconnect_buffer_size(0)`: a publish while down fails at once with Disconnected, and
/// nothing of it arrives later.
fn reconnect_buffer_off(t: Transport) {
    let mut c = Ctx::new(t);
    let nc = c.connect_with(fast_reconnect(c.opts()).reconnect_buffer_size(0));
    let events = nc.events();
    let sub = nc.subscribe("buf.off").unwrap();
    nc.flush().unwrap();
    c.server.stop();
    wait_disconnected(&events);
    let start = Instant::now();
    assert_kind(nc.publish("buf.off", "lost"), ErrorKind::Disconnected);
    assert!(start.elapsed() < Duration::from_millis(500));
    c.server.restart().unwrap();
    wait_reconnected(&events);
    nc.publish("buf.off", "after").unwrap();
    assert_eq!(&next(&sub).payload[..], b"after");
    assert_quiet(&nc, &sub);
    nc.close().unwrap();
}

/// `force_reconnect` drops the server and reconnects (here to the same one): Disconnected and
/// Reconnected events, and the subscriptions keep working.
fn force_reconnect(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let events = nc.events();
    let sub = nc.subscribe("forced").unwrap();
    let queue = nc.queue_subscribe("forced.q", "q").unwrap();
    nc.flush().unwrap();
    for round in 0..3u32 {
        let start = Instant::now();
        nc.force_reconnect().unwrap();
        let reason = wait_disconnected(&events);
        assert_eq!(reason.kind(), ErrorKind::Disconnected, "{reason}");
        assert!(reason.to_string().contains("forced"), "{reason}");
        let url = wait_reconnected(&events);
        assert_eq!(port_of(&url), port_of(&c.url()));
        eprintln!(
            "{}: forced reconnect {round} took {:?}",
            t.name(),
            start.elapsed()
        );
        nc.publish("forced", round.to_be_bytes()).unwrap();
        nc.publish("forced.q", round.to_be_bytes()).unwrap();
        assert_eq!(seq(&next(&sub)), round);
        assert_eq!(seq(&next(&queue)), round);
    }
    assert_quiet(&nc, &sub);
    nc.close().unwrap();
    assert_kind(nc.force_reconnect(), ErrorKind::Closed);
}

/// `retry_on_initial_connect` with the server down: `connect` returns at once (Connecting),
/// a subscription and a publish made meanwhile take effect once the server is up.
fn retry_on_initial_connect(t: Transport) {
    let mut c = Ctx::new(t);
    let url = c.url();
    c.server.stop();
    let start = Instant::now();
    let nc = fast_reconnect(c.opts())
        .retry_on_initial_connect()
        .connect(url.as_str())
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(nc.state(), State::Connecting);
    assert_eq!(nc.connected_url(), None);
    let events = nc.events();
    let sub = nc.subscribe("early").unwrap();
    nc.publish("early", "buffered").unwrap();
    assert_kind(nc.flush(), ErrorKind::Disconnected);
    c.server.restart().unwrap();
    let connected = wait_event(&events, |e| match e {
        Event::Connected { url } => Some(url.clone()),
        Event::Reconnected { url } => panic!("Reconnected to {url} before any connection"),
        _ => None,
    });
    assert_eq!(port_of(&connected), port_of(&url));
    assert_eq!(&next(&sub).payload[..], b"buffered");
    assert_eq!(nc.state(), State::Connected);
    assert_quiet(&nc, &sub);
    nc.close().unwrap();
}

/// Without `retry_on_initial_connect`, `connect` returns a connection that is Connected
/// already (not Connecting until the supervisor thread gets to run).
fn connected_when_connect_returns(t: Transport) {
    let c = Ctx::new(t);
    for i in 0..20 {
        let nc = c.connect();
        assert_eq!(nc.state(), State::Connected, "connection {i}");
        assert_eq!(port_of(&nc.connected_url().unwrap()), port_of(&c.url()));
        nc.close().unwrap();
    }
}

/// A directory under the system temp dir (next to the test servers' own), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "natsws-reconnect-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    /// `name` as nats-server's `include` wants it: relative to a server's config directory
    /// (the test servers' directories are siblings of this one).
    fn include(&self, name: &str) -> String {
        format!(
            "include \"../{}/{name}\"",
            self.0.file_name().unwrap().to_string_lossy()
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server comes back with another password: the same authorization error twice in a row
/// takes it out of the pool (even with unlimited attempts), and with no server left the
/// connection closes with that error.
fn same_auth_error_twice_closes(t: Transport) {
    let scratch = Scratch::new();
    let auth = scratch.0.join("auth.conf");
    std::fs::write(&auth, "authorization { user: alice, password: first }\n").unwrap();
    let mut c = Ctx::with_config(t, &scratch.include("auth.conf"));
    let nc = c.connect_with(fast_reconnect(c.opts()).user_and_password("alice", "first"));
    let events = nc.events();
    let sub = nc.subscribe("auth.twice").unwrap();
    nc.publish("auth.twice", "x").unwrap();
    next(&sub);
    std::fs::write(&auth, "authorization { user: alice, password: second }\n").unwrap();
    let start = Instant::now();
    c.server.restart().unwrap();
    let mut disconnects = 0;
    let reason = wait_event(&events, |e| match e {
        Event::Reconnected { url } => panic!("reconnected to {url} with a wrong password"),
        Event::Closed { reason } => Some(reason.clone()),
        Event::Disconnected { .. } => {
            disconnects += 1;
            None
        }
        _ => None,
    });
    let reason = reason.expect("closed on an error");
    assert_eq!(reason.kind(), ErrorKind::Authorization, "{reason}");
    assert!(!reason.to_string().contains("first"), "{reason}");
    let why = nc
        .closed_timeout(WAIT)
        .expect("closed in time")
        .expect("closed() returns why");
    assert_eq!(why.kind(), ErrorKind::Authorization, "{why}");
    eprintln!(
        "{}: closed {:?} after the restart with another password",
        t.name(),
        start.elapsed()
    );
    assert_eq!(disconnects, 1);
}

/// A credentials callback is asked again for every attempt, and the same connection comes back
/// after a restart with what it hands out then.
fn fresh_credentials_on_reconnect(t: Transport) {
    let op = Operator::new("op").unwrap();
    let acc = op.account("app").unwrap();
    let users = Arc::new(vec![
        acc.user("first").unwrap(),
        acc.user("second").unwrap(),
    ]);
    let mut c = Ctx::with_config(t, &op.server_config(&[&acc]));
    let calls = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new(0usize));
    let (n, cur, us) = (calls.clone(), current.clone(), users.clone());
    let (cur2, us2) = (current.clone(), users.clone());
    let opts = fast_reconnect(c.opts()).user_jwt(
        move || {
            let i = n.fetch_add(1, Ordering::SeqCst).min(1);
            *cur.lock().unwrap() = i;
            Ok(us[i].jwt().to_string())
        },
        move |nonce| {
            let i = *cur2.lock().unwrap();
            Ok(nkeys::KeyPair::from_seed(us2[i].seed())?.sign(nonce)?)
        },
    );
    let nc = c.connect_with(opts);
    let events = nc.events();
    let sub = nc.subscribe("cred.fresh").unwrap();
    round_trip(&nc, &sub, "first");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    c.server.restart().unwrap();
    wait_reconnected(&events);
    assert!(calls.load(Ordering::SeqCst) >= 2);
    assert_eq!(*current.lock().unwrap(), 1, "the second user was used");
    round_trip(&nc, &sub, "second");
    nc.close().unwrap();
}

fn round_trip(nc: &Connection, sub: &Subscription, payload: &str) {
    nc.publish(sub.subject(), payload).unwrap();
    assert_eq!(&next(sub).payload[..], payload.as_bytes());
}

#[test]
fn mixed_pool_tcp_then_ws() {
    mixed_pool(Transport::Ws);
}

#[test]
#[cfg(feature = "tls")]
fn mixed_pool_tcp_then_wss() {
    mixed_pool(Transport::Wss);
}

/// One pool with a tcp URL (server A, down at first) and a WebSocket URL (server B): the
/// client connects over WebSocket, then moves to tcp when B dies and A is back.
fn mixed_pool(b_t: Transport) {
    let mut a = NatsServer::builder().websocket(false).start().unwrap();
    let mut b = NatsServer::builder().transport(b_t).start().unwrap();
    let (a_url, b_url) = (a.tcp_url(), b.url(b_t).unwrap());
    a.stop();
    let opts = fast_reconnect(Options::new())
        .add_root_certificate_pem(b.ca_pem().as_bytes().to_vec())
        .no_randomize();
    let start = Instant::now();
    let nc = opts.connect([a_url.as_str(), b_url.as_str()]).unwrap();
    eprintln!(
        "mixed pool: connected over {} in {:?} with the tcp server down",
        b_t.name(),
        start.elapsed()
    );
    let events = nc.events();
    let url = nc.connected_url().unwrap();
    assert!(url.starts_with(b_t.name()), "{url}");
    assert_eq!(port_of(&url), port_of(&b_url));
    let sub = nc.subscribe("mixed").unwrap();
    round_trip(&nc, &sub, "over websocket");

    a.restart().unwrap();
    b.stop();
    let url = wait_reconnected(&events);
    assert!(url.starts_with("nats://"), "{url}");
    assert_eq!(port_of(&url), port_of(&a_url));
    round_trip(&nc, &sub, "over tcp");
    nc.close().unwrap();
}
