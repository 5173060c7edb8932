//! Tests of the fault-injecting proxy in `tests/common/proxy.rs`, against an echo server on
//! loopback (and once against a real nats-server).

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::proxy::{black_hole, Proxy};
use natsws::test_server::NatsServer;
use natsws::{ErrorKind, Options};

/// A loopback server that echoes every connection; stops on drop.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut out = conn.try_clone().unwrap();
                    let _ = io::copy(&mut conn, &mut out);
                    let _ = out.shutdown(Shutdown::Both);
                });
            }
        });
        Echo {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn connect(proxy: &Proxy) -> TcpStream {
    let conn = TcpStream::connect(proxy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn
}

/// Read exactly `n` bytes (panics on EOF, error or timeout).
fn read_n(conn: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    conn.read_exact(&mut buf).unwrap();
    buf
}

/// Nothing arrives within `d`, and the connection stays open.
fn assert_silent(conn: &mut TcpStream, d: Duration) {
    conn.set_read_timeout(Some(d)).unwrap();
    let mut b = [0u8; 1];
    match conn.read(&mut b) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
}

/// Read until EOF or a reset (bounded by the read timeout); returns what arrived.
fn read_to_close(conn: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("expected the connection to close, got {e} after {all:?}"),
        }
    }
}

/// Poll `cond` (bounded).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 5s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn forwards_both_ways() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    assert!(proxy.url("ws").starts_with("ws://127.0.0.1:"));
    assert_eq!(proxy.url("ws"), format!("ws://{}", proxy.addr()));
    let mut conn = connect(&proxy);
    conn.write_all(b"hello").unwrap();
    assert_eq!(read_n(&mut conn, 5), b"hello");
    // A megabyte in both directions at once arrives intact.
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut writer = conn.try_clone().unwrap();
    let sent = data.clone();
    let t = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    assert_eq!(read_n(&mut conn, data.len()), data);
    t.join().unwrap();
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.active(), 1);
    // Every byte counted once in each direction (the echo sent back all it got).
    let total = 5 + data.len() as u64;
    assert_eq!(proxy.bytes_up(), total);
    assert_eq!(proxy.bytes_down(), total);
    // A client's close reaches the server and back; the proxy forgets the connection.
    conn.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_close(&mut conn).is_empty());
    eventually("connection gone", || proxy.active() == 0);
}

#[test]
fn freeze_and_thaw() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut conn = connect(&proxy);
    conn.write_all(b"a").unwrap();
    assert_eq!(read_n(&mut conn, 1), b"a");
    proxy.freeze();
    conn.write_all(b"bc").unwrap();
    assert_silent(&mut conn, Duration::from_millis(300));
    // New connections are frozen too, but accepted.
    let mut other = connect(&proxy);
    other.write_all(b"x").unwrap();
    assert_silent(&mut other, Duration::from_millis(100));
    proxy.thaw();
    assert_eq!(read_n(&mut conn, 2), b"bc");
    assert_eq!(read_n(&mut other, 1), b"x");
    assert_eq!(proxy.connections(), 2);
}

#[test]
fn cut_closes_both_sides() {
    // A hand-driven upstream, to see the server side of the cut.
    let upstream = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let proxy = Proxy::start(upstream.local_addr().unwrap());
    let mut a = connect(&proxy);
    let mut b = connect(&proxy);
    let (mut sa, _) = upstream.accept().unwrap();
    let (mut sb, _) = upstream.accept().unwrap();
    for s in [&mut sa, &mut sb] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    a.write_all(b"1").unwrap();
    b.write_all(b"2").unwrap();
    let mut got = [read_n(&mut sa, 1)[0], read_n(&mut sb, 1)[0]];
    got.sort();
    assert_eq!(&got, b"12");
    // Frozen connections are cut too.
    proxy.freeze();
    proxy.cut();
    for c in [&mut a, &mut b, &mut sa, &mut sb] {
        assert!(read_to_close(c).is_empty());
    }
    eventually("connections gone", || proxy.active() == 0);
    proxy.thaw();
    // New connections still work.
    let mut c = connect(&proxy);
    let (mut sc, _) = upstream.accept().unwrap();
    sc.write_all(b"hi").unwrap();
    assert_eq!(read_n(&mut c, 2), b"hi");
    assert_eq!(proxy.connections(), 3);
}

#[test]
fn truncate_server_to_client() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut conn = connect(&proxy);
    conn.write_all(b"warm").unwrap();
    assert_eq!(read_n(&mut conn, 4), b"warm");
    proxy.truncate_after(10);
    conn.write_all(&[7u8; 100]).unwrap();
    assert_eq!(read_to_close(&mut conn), vec![7u8; 10]);
    // Only current connections are truncated.
    let mut next = connect(&proxy);
    next.write_all(&[1u8; 100]).unwrap();
    assert_eq!(read_n(&mut next, 100), vec![1u8; 100]);
    // Zero cuts at once.
    proxy.truncate_after(0);
    assert!(read_to_close(&mut next).is_empty());
}

#[test]
fn delay_holds_chunks() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut conn = connect(&proxy);
    proxy.delay(Duration::from_millis(150));
    let start = Instant::now();
    conn.write_all(b"slow").unwrap();
    assert_eq!(read_n(&mut conn, 4), b"slow");
    // Held once on the way in and once on the way out.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    proxy.delay(Duration::ZERO);
    let start = Instant::now();
    conn.write_all(b"fast").unwrap();
    assert_eq!(read_n(&mut conn, 4), b"fast");
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    // A cut interrupts a delay.
    proxy.delay(Duration::from_secs(60));
    conn.write_all(b"held").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    proxy.cut();
    assert!(read_to_close(&mut conn).is_empty());
    eventually("connection gone", || proxy.active() == 0);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn refuse_accepts_then_closes() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    proxy.refuse(true);
    let mut conn = connect(&proxy);
    assert!(read_to_close(&mut conn).is_empty());
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.active(), 0);
    proxy.refuse(false);
    let mut conn = connect(&proxy);
    conn.write_all(b"ok").unwrap();
    assert_eq!(read_n(&mut conn, 2), b"ok");
    assert_eq!(proxy.connections(), 2);
}

#[test]
fn unreachable_upstream_closes_the_client() {
    // A port nobody listens on (bound, then released).
    let dead = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = Proxy::start(dead);
    let mut conn = connect(&proxy);
    assert!(read_to_close(&mut conn).is_empty());
    // Retargeting takes effect for the next connection.
    let echo = Echo::start();
    proxy.set_upstream(echo.addr);
    let mut conn = connect(&proxy);
    conn.write_all(b"back").unwrap();
    assert_eq!(read_n(&mut conn, 4), b"back");
}

#[test]
fn drop_stops_listening_and_closes_connections() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let addr = proxy.addr();
    let mut conn = connect(&proxy);
    conn.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut conn, 1), b"x");
    let mut frozen = connect(&proxy);
    proxy.freeze();
    frozen.write_all(b"y").unwrap();
    let start = Instant::now();
    drop(proxy);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(read_to_close(&mut conn).is_empty());
    assert!(read_to_close(&mut frozen).is_empty());
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn black_hole_connects_then_stays_silent() {
    let (_listener, addr) = black_hole();
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    conn.write_all(b"CONNECT {}\r\n").unwrap();
    assert_silent(&mut conn, Duration::from_millis(300));
    // A client gives up at its connect deadline.
    let start = Instant::now();
    let err = Options::new()
        .connect_timeout(Duration::from_millis(500))
        .connect(format!("nats://{addr}").as_str())
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn real_server_through_the_proxy() {
    let server = NatsServer::start().unwrap();
    let ws: SocketAddr = format!("127.0.0.1:{}", server.ws_port().unwrap())
        .parse()
        .unwrap();
    let proxy = Proxy::start(ws);
    let nc = natsws::connect(proxy.url("ws").as_str()).unwrap();
    let sub = nc.subscribe("proxy.test").unwrap();
    nc.publish("proxy.test", "through").unwrap();
    let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(&m.payload[..], b"through");
    assert_eq!(proxy.connections(), 1);
    // A cut ends the connection on the client side too.
    proxy.cut();
    eventually("client sees the cut", || nc.flush().is_err());
}
