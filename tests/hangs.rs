//! The connection cannot hang: a user callback that panics on the supervisor thread, a peer
//! that stops reading (socket frozen, not closed), and a drain interrupted by a lost
//! connection. Every wait here is bounded: a regression fails the test instead of hanging CI.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::*;
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind, Headers, Options, State};

each_transport!(
    request_on_a_frozen_socket_returns_by_its_deadline,
    respond_on_a_frozen_socket_is_bounded,
    panicking_reconnect_delay_then_close_is_bounded,
    panicking_reconnect_delay_then_drop_is_bounded,
    panicking_signing_callback_then_close_is_bounded,
    draining_is_kept_when_the_connection_is_lost,
    header_bytes_count_toward_pending_limits,
);

const CLOSE: Duration = Duration::from_millis(500);
/// What a bounded call may take beyond its own bound: thread start-up, joins, a loaded CI box.
const SLACK: Duration = Duration::from_millis(1500);

fn scheme(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "nats",
        Transport::Ws => "ws",
        Transport::Wss => "wss",
        _ => unreachable!(),
    }
}

fn upstream(c: &Ctx) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port_of(&c.url())))
}

/// Runs `f` on a thread and returns its result and how long it took; fails the test if it
/// has not returned within `limit` (the thread is left behind rather than hanging the test).
#[track_caller]
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let start = Instant::now();
        let r = f();
        let _ = tx.send((r, start.elapsed()));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not return within {limit:?}"))
}

/// Enough to fill the socket buffers of the client and of the frozen proxy several times:
/// a write that waited for the peer would block.
const FILL: usize = 24;
const BIG: usize = 1000 * 1024;

fn request_on_a_frozen_socket_returns_by_its_deadline(t: Transport) {
    let c = Ctx::new(t);
    let proxy = Proxy::start(upstream(&c));
    let nc = c
        .opts()
        .close_timeout(CLOSE)
        .connect(proxy.url(scheme(t)).as_str())
        .unwrap();
    nc.flush().unwrap();
    proxy.freeze();
    let limit = Duration::from_millis(100);
    let nc2 = nc.clone();
    let (slowest, _) = within(Duration::from_secs(30), "the requests", move || {
        let payload = vec![7u8; BIG];
        let mut slowest = Duration::ZERO;
        for i in 0..FILL {
            let start = Instant::now();
            let e = nc2
                .request_timeout("frozen", &payload[..], limit)
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout, "request {i}: {e}");
            slowest = slowest.max(start.elapsed());
        }
        slowest
    });
    eprintln!("slowest of {FILL} requests of {BIG} bytes on a frozen socket: {slowest:?}");
    assert!(
        slowest < limit + SLACK,
        "a {limit:?} request took {slowest:?}"
    );
    let ((), took) = within(CLOSE + SLACK * 2, "close", move || nc.close().unwrap());
    eprintln!("close on a frozen socket: {took:?}");
}

fn respond_on_a_frozen_socket_is_bounded(t: Transport) {
    let c = Ctx::new(t);
    let proxy = Proxy::start(upstream(&c));
    let flush = Duration::from_millis(300);
    let nc = c
        .opts()
        .close_timeout(CLOSE)
        .flush_timeout(flush)
        .connect(proxy.url(scheme(t)).as_str())
        .unwrap();
    let sub = nc.subscribe("svc").unwrap();
    nc.publish_with_reply("svc", "answers", "q").unwrap();
    let req = next(&sub);
    proxy.freeze();
    let (slowest, _) = within(Duration::from_secs(30), "the replies", move || {
        let payload = vec![1u8; BIG];
        let mut slowest = Duration::ZERO;
        for i in 0..FILL {
            let start = Instant::now();
            match req.respond(&payload[..]) {
                Ok(()) => {}
                Err(e) => assert_eq!(e.kind(), ErrorKind::BufferFull, "reply {i}: {e}"),
            }
            slowest = slowest.max(start.elapsed());
        }
        slowest
    });
    eprintln!("slowest of {FILL} replies of {BIG} bytes on a frozen socket: {slowest:?}");
    assert!(slowest < flush + SLACK, "a reply took {slowest:?}");
    let ((), _) = within(CLOSE + SLACK * 2, "close", move || nc.close().unwrap());
}

/// Connects with `opts`, kills the server, and waits until the callback reports (through
/// `called`) that it ran on the supervisor thread during reconnection.
fn lose_server(c: &mut Ctx, nc: &Connection, called: &crossbeam_channel::Receiver<()>) {
    let events = nc.events();
    c.server.stop();
    wait_disconnected(&events);
    called
        .recv_timeout(WAIT)
        .expect("the callback runs while reconnecting");
}

fn panicking_delay(
    tx: crossbeam_channel::Sender<()>,
) -> impl Fn(u32) -> Duration + Send + Sync + 'static {
    move |_| {
        let _ = tx.try_send(());
        panic!("a reconnect delay function that panics")
    }
}

fn panicking_reconnect_delay_then_close_is_bounded(t: Transport) {
    let mut c = Ctx::new(t);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let nc = c.connect_with(
        c.opts()
            .max_reconnects(None)
            .close_timeout(CLOSE)
            .reconnect_delay(panicking_delay(tx)),
    );
    lose_server(&mut c, &nc, &rx);
    let probe = nc.clone();
    let ((), took) = within(CLOSE + SLACK, "close", move || nc.close().unwrap());
    eprintln!("close after a panicking reconnect delay: {took:?}");
    assert_eq!(probe.state(), State::Closed);
    assert!(probe.closed_timeout(Duration::ZERO).is_ok());
}

fn panicking_reconnect_delay_then_drop_is_bounded(t: Transport) {
    let mut c = Ctx::new(t);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let nc = c.connect_with(
        c.opts()
            .max_reconnects(None)
            .close_timeout(CLOSE)
            .reconnect_delay(panicking_delay(tx)),
    );
    lose_server(&mut c, &nc, &rx);
    let ((), took) = within(CLOSE + SLACK, "drop", move || drop(nc));
    eprintln!("drop after a panicking reconnect delay: {took:?}");
}

fn panicking_signing_callback_then_close_is_bounded(t: Transport) {
    let kp = nkeys::KeyPair::new_user();
    let seed = kp.seed().unwrap();
    let mut c = Ctx::with_config(
        t,
        &format!(
            "authorization {{ users: [ {{ nkey: {} }} ] }}",
            kp.public_key()
        ),
    );
    let signer = nkeys::KeyPair::from_seed(&seed).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let counter = calls.clone();
    let opts = fast_reconnect(c.opts())
        .close_timeout(CLOSE)
        .nkey(kp.public_key(), move |nonce| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                return Ok(signer.sign(nonce)?);
            }
            let _ = tx.try_send(());
            panic!("a signing callback that panics")
        });
    let nc = c.connect_with(opts);
    let events = nc.events();
    // Restarted on the same ports: the reconnect reaches CONNECT, and signing panics.
    c.server.restart().unwrap();
    wait_disconnected(&events);
    rx.recv_timeout(WAIT)
        .expect("the callback runs while reconnecting");
    assert_ne!(
        nc.state(),
        State::Closed,
        "a panicking callback fails an attempt, not the connection"
    );
    let probe = nc.clone();
    let ((), took) = within(CLOSE + SLACK, "close", move || nc.close().unwrap());
    eprintln!("close after a panicking signing callback: {took:?}");
    assert_eq!(probe.state(), State::Closed);
}

#[test]
fn panicking_websocket_headers_callback_fails_the_attempt() {
    // wss needs the `tls` feature.
    let transports = [Transport::Ws, Transport::Wss];
    for t in transports
        .into_iter()
        .filter(|t| cfg!(feature = "tls") || *t != Transport::Wss)
    {
        let mut c = Ctx::new(t);
        // At connect: the attempt fails with the callback's error, connect() returns.
        let e = c
            .opts()
            .websocket_headers_callback(|| panic!("headers"))
            .connect(c.url().as_str())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Callback, "{e}");
        // While reconnecting: attempts fail, and close is bounded.
        let calls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let counter = calls.clone();
        let nc = c.connect_with(
            fast_reconnect(c.opts())
                .close_timeout(CLOSE)
                .websocket_headers_callback(move || {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Ok(vec![]);
                    }
                    let _ = tx.try_send(());
                    panic!("headers")
                }),
        );
        let events = nc.events();
        c.server.restart().unwrap();
        wait_disconnected(&events);
        rx.recv_timeout(WAIT)
            .expect("the callback runs while reconnecting");
        let ((), took) = within(CLOSE + SLACK, "close", move || nc.close().unwrap());
        eprintln!("{t:?}: close after a panicking headers callback: {took:?}");
    }
}

/// A drain that loses its connection stays a drain: the state never goes back to
/// Reconnecting or Connected, and no subscription is accepted.
fn draining_is_kept_when_the_connection_is_lost(t: Transport) {
    let c = Ctx::new(t);
    let proxy = Proxy::start(upstream(&c));
    let nc = fast_reconnect(c.opts())
        .drain_timeout(Duration::from_secs(5))
        .close_timeout(CLOSE)
        .connect(proxy.url(scheme(t)).as_str())
        .unwrap();
    let events = nc.events();
    let _sub = nc.subscribe("d").unwrap();
    nc.flush().unwrap();
    proxy.freeze();
    let drainer = nc.clone();
    let h = std::thread::spawn(move || drainer.drain());
    wait_state(&nc, State::Draining);
    assert_eq!(
        nc.drain().unwrap_err().kind(),
        ErrorKind::Draining,
        "a second drain"
    );
    proxy.cut();
    proxy.thaw();
    wait_disconnected(&events);
    let st = nc.state();
    assert!(
        matches!(st, State::Draining | State::Closed),
        "{st:?} after a lost connection"
    );
    let e = nc.subscribe("late").unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Draining | ErrorKind::Closed),
        "{e}"
    );
    let _ = h.join().unwrap();
    assert!(nc.closed_timeout(WAIT).is_ok());
}

/// Pending byte limits count headers too: a message with a big header block and no payload
/// is not free.
fn header_bytes_count_toward_pending_limits(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect_with(c.opts().pending_limits(0, 4000));
    let sub = nc.subscribe("h").unwrap();
    nc.flush().unwrap();
    let mut h = Headers::new();
    h.insert("X-Big", "v".repeat(1000));
    for _ in 0..10 {
        nc.publish_with_headers("h", &h, "").unwrap();
    }
    nc.flush().unwrap();
    let (n, bytes) = sub.pending();
    assert!(
        (1..4).contains(&n),
        "{n} messages of 1000 header bytes pending under a 4000-byte limit"
    );
    assert!(bytes >= n * 1000, "{bytes} bytes counted for {n} messages");
    assert_eq!(sub.dropped(), 10 - n as u64);
}

#[test]
fn options_are_checked_at_connect() {
    for (opts, name) in [
        (Options::new().write_buffer(0), "write_buffer"),
        (Options::new().inbox_prefix("my inbox"), "inbox_prefix"),
    ] {
        // Refused before any connection attempt: no server needed, nothing listens here.
        let e = opts.connect("nats://127.0.0.1:1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOption, "{name}: {e}");
        assert!(e.to_string().contains(name), "{e}");
    }
}
