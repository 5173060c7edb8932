//! Edge values from the server and the caller: a huge `max_payload` in INFO, durations of
//! zero or `Duration::MAX`, an auto-unsubscribe whose messages are partly dropped.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use natsws::test_server::NatsServer;
use natsws::{ErrorKind, Event, Options};

/// A server announcing `max_payload` = u64::MAX must not break the parser limits: a 100 KB
/// message still arrives, and the connection stays up.
#[test]
fn huge_max_payload_in_info() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", l.local_addr().unwrap());
    let fake = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(b"INFO {\"server_id\":\"fake\",\"proto\":1,\"headers\":true,\"max_payload\":18446744073709551615}\r\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        let mut pings = 0;
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            if line == "PING\r\n" {
                pings += 1;
                if pings == 2 {
                    // The client's flush after subscribing: a big message first.
                    let body = vec![b'x'; 100_000];
                    s.write_all(b"MSG big 1 100000\r\n").unwrap();
                    s.write_all(&body).unwrap();
                    s.write_all(b"\r\n").unwrap();
                }
                s.write_all(b"PONG\r\n").unwrap();
            }
            line.clear();
        }
    });
    let nc = Options::new().no_reconnect().connect(url.as_str()).unwrap();
    let sub = nc.subscribe("big").unwrap();
    nc.flush().unwrap();
    assert_eq!(next(&sub).payload.len(), 100_000);
    assert_eq!(nc.state(), natsws::State::Connected);
    nc.close().unwrap();
    fake.join().unwrap();
}

/// `Duration::MAX` as "never": no panic in any thread, and close() still returns.
#[test]
fn duration_max_options_do_not_overflow() {
    let server = NatsServer::start().unwrap();
    let nc = Options::new()
        .ping_interval(Duration::MAX)
        .close_timeout(Duration::MAX)
        .drain_timeout(Duration::MAX)
        .lame_duck_window(Duration::MAX)
        .connect(server.tcp_url().as_str())
        .unwrap();
    nc.flush().unwrap();
    let sub = nc.subscribe("m").unwrap();
    let many = nc
        .request_many(
            "nobody",
            "x",
            natsws::RequestManyOptions::new().max_wait(Duration::MAX),
        )
        .unwrap();
    let first: Vec<_> = many.collect();
    assert!(matches!(&first[..], [Err(e)] if e.kind() == ErrorKind::NoResponders));
    // close() runs on another thread so that a hang fails the test instead of blocking it.
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        drop(sub);
        let _ = tx.send(nc.drain());
    });
    let drained = rx.recv_timeout(WAIT).expect("drain() returned");
    drained.unwrap();
}

/// `ping_interval(ZERO)` turns keepalive off instead of pinging in a loop.
#[test]
fn zero_ping_interval_means_no_pings() {
    let server = NatsServer::start().unwrap();
    let nc = Options::new()
        .ping_interval(Duration::ZERO)
        .connect(server.tcp_url().as_str())
        .unwrap();
    let events = nc.events();
    for _ in 0..200 {
        nc.flush().unwrap();
    }
    assert!(
        !events
            .try_iter()
            .any(|e| matches!(e, Event::Disconnected { .. })),
        "the connection churned"
    );
    assert_eq!(nc.state(), natsws::State::Connected);
}

/// Messages dropped for the pending limits count toward an auto-unsubscribe, as they do on
/// the server: the subscription ends instead of waiting forever for messages that never come.
#[test]
fn auto_unsubscribe_counts_dropped_messages() {
    let server = NatsServer::start().unwrap();
    let nc = Options::new()
        .pending_limits(2, 0)
        .connect(server.tcp_url().as_str())
        .unwrap();
    let sub = nc.subscribe("few").unwrap();
    sub.unsubscribe_after(5).unwrap();
    nc.flush().unwrap();
    let publisher = natsws::connect(server.tcp_url().as_str()).unwrap();
    for i in 0..10 {
        publisher.publish("few", format!("{i}")).unwrap();
    }
    publisher.flush().unwrap();
    nc.flush().unwrap();
    let mut got = Vec::new();
    let end = loop {
        match sub.next_timeout(WAIT) {
            Ok(m) => got.push(m),
            // Reported once before the queued messages go on.
            Err(e) if e.kind() == ErrorKind::SlowConsumer => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(end.kind(), ErrorKind::Unsubscribed, "{end}");
    assert_eq!(got.len(), 2);
    assert_eq!(sub.dropped(), 3);
}
