//! Reconnecting through network faults (the fault proxy of `common::proxy`) over every
//! transport: a half-open connection found by missed PONGs, a black-holed address and the
//! connect deadline, and a connection cut in the middle of a big message.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::proxy::{black_hole, Proxy};
use common::*;
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind, Event, Options, Subscription};

each_transport!(
    stale_connection_detected,
    black_hole_hits_connect_timeout,
    black_hole_first_in_pool,
    cut_mid_message,
);

fn scheme(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "nats",
        Transport::Ws => "ws",
        Transport::Wss => "wss",
        _ => unreachable!(),
    }
}

/// The server's listener for the transport under test.
fn upstream(c: &Ctx) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port_of(&c.url())))
}

fn round_trip(nc: &Connection, sub: &Subscription, payload: &str) {
    nc.publish(sub.subject(), payload).unwrap();
    assert_eq!(&next(sub).payload[..], payload.as_bytes());
}

/// A frozen (half-open) connection: the pings go unanswered, the connection is declared stale
/// after `max_pings_out` intervals; once the network is back the client reconnects.
fn stale_connection_detected(t: Transport) {
    let c = Ctx::new(t);
    let proxy = Proxy::start(upstream(&c));
    let nc = fast_reconnect(c.opts())
        .ping_interval(Duration::from_millis(100))
        .max_pings_out(2)
        .connect_timeout(Duration::from_millis(500))
        .connect(proxy.url(scheme(t)).as_str())
        .unwrap();
    let events = nc.events();
    let sub = nc.subscribe("stale").unwrap();
    round_trip(&nc, &sub, "before");

    proxy.freeze();
    let frozen = Instant::now();
    let reason = wait_disconnected(&events);
    let detected = frozen.elapsed();
    assert_eq!(reason.kind(), ErrorKind::StaleConnection, "{reason}");
    // Three ping intervals (two pings out, the third interval finds them unanswered).
    assert!(
        detected >= Duration::from_millis(200) && detected < Duration::from_secs(2),
        "{detected:?}"
    );
    proxy.thaw();
    let thawed = Instant::now();
    wait_reconnected(&events);
    eprintln!(
        "{}: stale after {detected:?} frozen, reconnected {:?} after the thaw",
        t.name(),
        thawed.elapsed()
    );
    round_trip(&nc, &sub, "after");
    nc.close().unwrap();
}

/// Runs `f` on a thread and waits at most `limit` for it, so an operation that never returns
/// fails the test instead of hanging it.
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not return within {limit:?}"))
}

/// The only server accepts TCP connections and never answers: `connect` fails with Timeout
/// at the connect deadline.
fn black_hole_hits_connect_timeout(t: Transport) {
    let (_hole, addr) = black_hole();
    let url = format!("{}://{addr}", scheme(t));
    let start = Instant::now();
    let r = bounded(
        "connect to a black hole",
        Duration::from_secs(3),
        move || {
            Options::new()
                .connect_timeout(Duration::from_millis(300))
                .connect(url.as_str())
        },
    );
    let e = assert_kind(r, ErrorKind::Timeout);
    let took = start.elapsed();
    eprintln!("{}: black hole: {e} after {took:?}", t.name());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

/// A pool of [black hole, real server]: the first connect (with and without
/// `retry_on_initial_connect`) gets past the black hole's deadline to the real server.
fn black_hole_first_in_pool(t: Transport) {
    let c = Ctx::new(t);
    let (hole_listener, addr) = black_hole();
    let hole = format!("{}://{addr}", scheme(t));
    let real = c.url();
    let opts = fast_reconnect(c.opts())
        .connect_timeout(Duration::from_millis(300))
        .no_randomize();

    let start = Instant::now();
    let nc = opts
        .clone()
        .retry_on_initial_connect()
        .connect([hole.as_str(), real.as_str()])
        .unwrap();
    // Declared after `nc`, so a failing test closes the black hole first: an attempt stuck on
    // it is reset and `nc` can close.
    let _hole_listener = hole_listener;
    let events = nc.events();
    let url = wait_event(&events, |e| match e {
        Event::Connected { url } => Some(url.clone()),
        _ => None,
    });
    let took = start.elapsed();
    assert_eq!(port_of(&url), port_of(&real));
    assert!(took < Duration::from_secs(3), "{took:?}");
    let sub = nc.subscribe("hole").unwrap();
    round_trip(&nc, &sub, "past the black hole");
    nc.close().unwrap();

    let start = Instant::now();
    let servers = [hole.clone(), real.clone()];
    let nc = bounded(
        "connect past a black hole",
        Duration::from_secs(3),
        move || opts.connect(&servers[..]).unwrap(),
    );
    assert_eq!(port_of(&nc.connected_url().unwrap()), port_of(&real));
    eprintln!(
        "{}: connected past the black hole in {took:?} (retrying) and {:?} (first pass)",
        t.name(),
        start.elapsed()
    );
    nc.close().unwrap();
}

/// The connection is cut while the server sends a 512 KiB message (in the middle of its frame
/// or TLS record): Disconnected, Reconnected, no partial message, the subscription works.
fn cut_mid_message(t: Transport) {
    let c = Ctx::new(t);
    let proxy = Proxy::start(upstream(&c));
    let nc = fast_reconnect(c.opts())
        .connect(proxy.url(scheme(t)).as_str())
        .unwrap();
    let events = nc.events();
    let sub = nc.subscribe("big").unwrap();
    nc.flush().unwrap();
    let publisher = c.connect();

    proxy.truncate_after(1000);
    publisher.publish("big", vec![0xAB; 512 * 1024]).unwrap();
    publisher.flush().unwrap();
    let reason = wait_disconnected(&events);
    wait_reconnected(&events);
    eprintln!("{}: cut mid-message: {reason}", t.name());
    // The SUB is replayed before our PING: after the flush the server has the interest.
    nc.flush().unwrap();
    publisher.publish("big", "small").unwrap();
    let m = next(&sub);
    assert_eq!(&m.payload[..], b"small", "a partial message was delivered");
    assert_quiet(&nc, &sub);
    nc.close().unwrap();
    publisher.close().unwrap();
}
