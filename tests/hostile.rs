//! A malformed or hostile server: each misbehaviour ends in a clear error of its own kind,
//! within the connect deadline, and never in a panic or unbounded buffering. These servers are
//! scripted loopback listeners, because a real nats-server cannot misbehave on demand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natsws::{ErrorKind, Options};

/// The longest any wait here may take before the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

const INFO: &[u8] = b"INFO {\"server_id\":\"fake\",\"version\":\"2.15.1\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n";

/// A one-connection server running `script` on the accepted socket.
fn fake(script: impl FnOnce(TcpStream) + Send + 'static) -> (String, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        script(s)
    });
    (url, h)
}

/// Reads the client's CONNECT and PING lines.
fn read_connect(s: &mut TcpStream) -> String {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut connect = String::new();
    r.read_line(&mut connect).unwrap();
    let mut ping = String::new();
    r.read_line(&mut ping).unwrap();
    assert_eq!(ping, "PING\r\n");
    connect
}

/// INFO, CONNECT/PING, PONG: a connection natsws accepts.
fn handshake(s: &mut TcpStream) -> String {
    s.write_all(INFO).unwrap();
    let c = read_connect(s);
    s.write_all(b"PONG\r\n").unwrap();
    c
}

/// A short connect deadline, and no reconnecting: these servers take one connection, and
/// the tests look at how it ends.
fn quick() -> Options {
    Options::new()
        .connect_timeout(Duration::from_millis(500))
        .no_reconnect()
}

#[test]
fn silent_server_hits_the_connect_deadline() {
    let (url, h) = fake(|mut s| {
        let mut b = [0u8; 64];
        let _ = s.read(&mut b); // wait for the client to give up
    });
    let start = Instant::now();
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    h.join().unwrap();
}

#[test]
fn server_that_stops_after_info_hits_the_connect_deadline() {
    let (url, h) = fake(|mut s| {
        s.write_all(INFO).unwrap();
        read_connect(&mut s);
        let mut b = [0u8; 64];
        let _ = s.read(&mut b);
    });
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    h.join().unwrap();
}

#[test]
fn garbage_instead_of_info_is_a_protocol_error() {
    let (url, h) = fake(|mut s| {
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
    });
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    h.join().unwrap();
}

#[test]
fn endless_control_line_is_refused_without_buffering_it() {
    let (url, h) = fake(|mut s| {
        // 1 MiB of a control line that never ends.
        let junk = vec![b'x'; 1024 * 1024];
        let _ = s.write_all(b"INFO ");
        let _ = s.write_all(&junk);
    });
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    h.join().unwrap();
}

#[test]
fn authorization_error_during_handshake_keeps_the_server_text() {
    let (url, h) = fake(|mut s| {
        s.write_all(INFO).unwrap();
        read_connect(&mut s);
        s.write_all(b"-ERR 'Authorization Violation'\r\n").unwrap();
    });
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authorization, "{err}");
    assert_eq!(err.server_text(), Some("Authorization Violation"));
    h.join().unwrap();
}

#[test]
fn server_closing_before_pong_is_an_io_error() {
    let (url, h) = fake(|mut s| {
        s.write_all(INFO).unwrap();
        read_connect(&mut s);
    });
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    h.join().unwrap();
}

/// After a good handshake, the server sends `bytes`; the connection must close with `kind`.
fn after_handshake(bytes: &'static [u8], kind: ErrorKind) {
    let (url, h) = fake(move |mut s| {
        handshake(&mut s);
        s.write_all(bytes).unwrap();
        // Keep the socket open until the client hangs up, so the error is the client's.
        let mut b = [0u8; 1024];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    });
    let nc = quick().connect(url.as_str()).unwrap();
    let events = nc.events();
    let reason = nc
        .closed_timeout(WAIT)
        .expect("closed in time")
        .expect("closed on an error");
    assert_eq!(reason.kind(), kind, "{reason}");
    // Later calls fail with Closed, and carry the reason as their source.
    let publish = nc.publish("x", "y").unwrap_err();
    assert_eq!(publish.kind(), ErrorKind::Closed);
    let source = std::error::Error::source(&publish)
        .and_then(|s| s.downcast_ref::<natsws::Error>())
        .expect("the cause is kept");
    assert_eq!(source.kind(), kind);
    let seen: Vec<_> = events.try_iter().collect();
    assert!(
        seen.iter()
            .any(|e| matches!(e, natsws::Event::Disconnected { .. })),
        "{seen:?}"
    );
    drop(nc);
    h.join().unwrap();
}

#[test]
fn hostile_message_size_closes_with_a_protocol_error() {
    after_handshake(b"MSG a 1 999999999999\r\n", ErrorKind::Protocol);
}

#[test]
fn bad_payload_terminator_closes_with_a_protocol_error() {
    after_handshake(b"MSG a 1 2\r\nhiXX", ErrorKind::Protocol);
}

#[test]
fn unknown_operation_closes_with_a_protocol_error() {
    after_handshake(b"HELLO there\r\n", ErrorKind::Protocol);
}

#[test]
fn fatal_server_error_closes_with_its_kind() {
    after_handshake(b"-ERR 'Stale Connection'\r\n", ErrorKind::StaleConnection);
}

#[test]
fn bad_header_block_drops_one_message_not_the_connection() {
    let (url, h) = fake(|mut s| {
        handshake(&mut s);
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap(); // SUB a 1
        assert!(line.starts_with("SUB a "), "{line}");
        let sid = line.trim_end().rsplit(' ').next().unwrap().to_string();
        line.clear();
        r.read_line(&mut line).unwrap(); // PING (flush)
        let bad = format!("HMSG a {sid} 13 15\r\nBOGUS/1.0\r\n\r\nhi\r\n");
        let good = format!("MSG a {sid} 2\r\nok\r\n");
        s.write_all(bad.as_bytes()).unwrap();
        s.write_all(good.as_bytes()).unwrap();
        s.write_all(b"PONG\r\n").unwrap();
        let mut b = [0u8; 1024];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    });
    let nc = quick().connect(url.as_str()).unwrap();
    let sub = nc.subscribe("a").unwrap();
    nc.flush().unwrap();
    let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(&m.payload[..], b"ok");
    assert!(nc
        .events()
        .try_iter()
        .any(|e| matches!(e, natsws::Event::ServerError { .. })));
    nc.close().unwrap();
    h.join().unwrap();
}

#[test]
fn messages_before_a_malformed_operation_are_delivered() {
    let (url, h) = fake(|mut s| {
        handshake(&mut s);
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap(); // SUB a 1
        let sid = line.trim_end().rsplit(' ').next().unwrap().to_string();
        line.clear();
        r.read_line(&mut line).unwrap(); // PING (flush)
        s.write_all(b"PONG\r\n").unwrap();
        // Two good messages and a bad operation, in one write: one read for the client.
        let burst = format!("MSG a {sid} 2\r\nm1\r\nMSG a {sid} 2\r\nm2\r\nHELLO there\r\n");
        s.write_all(burst.as_bytes()).unwrap();
        let mut b = [0u8; 1024];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    });
    let nc = quick().connect(url.as_str()).unwrap();
    let sub = nc.subscribe("a").unwrap();
    nc.flush().unwrap();
    let reason = nc.closed_timeout(WAIT).expect("closed in time");
    assert_eq!(reason.expect("on an error").kind(), ErrorKind::Protocol);
    let got: Vec<_> = sub.try_iter().map(|m| m.payload).collect();
    assert_eq!(got, [&b"m1"[..], &b"m2"[..]]);
    assert_eq!(
        sub.pending(),
        (0, 0),
        "nothing is counted as pending that never came"
    );
    drop(nc);
    h.join().unwrap();
}

/// A fake HTTP server for the WebSocket upgrade.
fn fake_http(response: &'static str) -> (String, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/some/path?x=1", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut request_line = String::new();
        r.read_line(&mut request_line).unwrap();
        assert_eq!(request_line, "GET /some/path?x=1 HTTP/1.1\r\n");
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l == "\r\n" {
                break;
            }
        }
        (&s).write_all(response.as_bytes()).unwrap();
    });
    (url, h)
}

#[test]
fn websocket_upgrade_refused_is_a_websocket_error() {
    let (url, h) = fake_http("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WebSocket, "{err}");
    assert!(err.to_string().contains("403"), "{err}");
    h.join().unwrap();
}

#[test]
fn websocket_wrong_accept_key_is_a_websocket_error() {
    let (url, h) = fake_http(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n",
    );
    let err = quick().connect(url.as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WebSocket, "{err}");
    h.join().unwrap();
}

#[test]
fn server_ping_is_answered() {
    let (url, h) = fake(|mut s| {
        handshake(&mut s);
        s.write_all(b"PING\r\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "PONG\r\n");
    });
    let nc = quick().connect(url.as_str()).unwrap();
    // The fake hangs up once it has its PONG, which ends the connection.
    let reason = nc
        .closed_timeout(WAIT)
        .expect("closed in time")
        .expect("the fake hung up");
    assert_eq!(reason.kind(), ErrorKind::Disconnected, "{reason}");
    h.join().unwrap();
}

#[test]
fn unanswered_pings_make_the_connection_stale() {
    let (url, h) = fake(|mut s| {
        handshake(&mut s);
        // Read (and ignore) the client's PINGs until it gives up on us.
        let mut b = [0u8; 1024];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    });
    let start = Instant::now();
    let nc = quick()
        .ping_interval(Duration::from_millis(50))
        .max_pings_out(2)
        .connect(url.as_str())
        .unwrap();
    let reason = nc
        .closed_timeout(WAIT)
        .expect("closed in time")
        .expect("stale");
    assert_eq!(reason.kind(), ErrorKind::StaleConnection, "{reason}");
    // Three intervals: two pings go out unanswered, the third tick declares it stale.
    assert!(start.elapsed() >= Duration::from_millis(150));
    drop(nc);
    h.join().unwrap();
}
