//! Connection life over every transport: drain, close while publishing, drop flushes, the
//! server going away.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use natsws::test_server::Transport;
use natsws::{ErrorKind, Event, Message, State};

each_transport!(
    subscription_drain,
    drain_while_publishing,
    connection_drain,
    close_while_publishing,
    drop_flushes,
    server_killed,
);

fn seq(m: &Message) -> u32 {
    u32::from_be_bytes(m.payload[..4].try_into().unwrap())
}

fn assert_in_order(msgs: &[Message], n: u32) {
    assert_eq!(msgs.len(), n as usize);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(seq(m), i as u32, "message {i} out of order");
    }
}

fn subscription_drain(t: Transport) {
    const N: u32 = 10_000;
    let c = Ctx::new(t);
    let nc = c.connect();
    let pb = c.connect();
    let sub = nc.subscribe("drain.sub").unwrap();
    let other = nc.subscribe("drain.other").unwrap();
    nc.flush().unwrap();
    for i in 0..N {
        pb.publish("drain.sub", i.to_be_bytes()).unwrap();
    }
    pb.flush().unwrap();
    sub.drain().unwrap();
    // Published after the drain: not for this subscription any more.
    pb.publish("drain.sub", u32::MAX.to_be_bytes()).unwrap();
    pb.flush().unwrap();
    assert_in_order(&collect_all(sub), N);
    // The connection and its other subscriptions are untouched.
    pb.publish("drain.other", "x").unwrap();
    assert_eq!(&next(&other).payload[..], b"x");
    assert_eq!(nc.state(), State::Connected);
    nc.close().unwrap();
    pb.close().unwrap();
}

/// Draining while another connection keeps publishing: what arrives is a gap-free prefix of
/// the published sequence (nothing lost before the server saw the UNSUB).
fn drain_while_publishing(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc.subscribe("drain.live").unwrap();
    nc.flush().unwrap();
    let pb = c.connect();
    let published = AtomicU64::new(0);
    let received = std::thread::scope(|s| {
        let publisher = s.spawn(|| {
            for i in 0..200_000u32 {
                pb.publish("drain.live", i.to_be_bytes()).unwrap();
                published.store(i as u64 + 1, Ordering::Relaxed);
            }
            pb.flush().unwrap();
        });
        let deadline = Instant::now() + WAIT;
        while published.load(Ordering::Relaxed) < 20_000 {
            assert!(Instant::now() < deadline, "the publisher did not start");
            std::thread::yield_now();
        }
        // What was published before pb's flush has reached the server once it returns; pb
        // keeps going, and the drain cuts the stream somewhere after that.
        let before = published.load(Ordering::Relaxed);
        pb.flush().unwrap();
        sub.drain().unwrap();
        let msgs = collect_all(sub);
        publisher.join().unwrap();
        assert!(msgs.len() as u64 >= before, "{} < {before}", msgs.len());
        msgs
    });
    for (i, m) in received.iter().enumerate() {
        assert_eq!(seq(m), i as u32, "gap or disorder at {i}");
    }
    nc.close().unwrap();
    pb.close().unwrap();
}

fn connection_drain(t: Transport) {
    const N: u32 = 10_000;
    let c = Ctx::new(t);
    let nc = c.connect();
    let pb = c.connect();
    let a = nc.subscribe("cdrain.a").unwrap();
    let b = nc.queue_subscribe("cdrain.b", "q").unwrap();
    nc.flush().unwrap();
    // Something published by the draining connection itself must be flushed by drain.
    let watcher = pb.subscribe("cdrain.out").unwrap();
    pb.flush().unwrap();
    for i in 0..N {
        pb.publish("cdrain.a", i.to_be_bytes()).unwrap();
        pb.publish("cdrain.b", i.to_be_bytes()).unwrap();
    }
    pb.flush().unwrap();
    nc.publish("cdrain.out", "bye").unwrap();
    nc.drain().unwrap();
    assert_eq!(nc.state(), State::Closed);
    assert_kind(nc.publish("cdrain.a", "late"), ErrorKind::Closed);
    assert!(nc.subscribe("cdrain.c").is_err());
    assert!(nc.drain().is_err());
    nc.close().unwrap();
    assert!(nc.close_reason().is_none());
    // Every message delivered before the drain is still readable.
    assert_in_order(&collect_all(a), N);
    assert_in_order(&collect_all(b), N);
    assert_eq!(&next(&watcher).payload[..], b"bye");
    pb.close().unwrap();
}

fn close_while_publishing(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let counts: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        let mut threads = Vec::new();
        for (i, count) in counts.iter().enumerate() {
            let nc = nc.clone();
            threads.push(s.spawn(move || {
                let deadline = Instant::now() + WAIT;
                let payload = vec![i as u8; 100];
                loop {
                    match nc.publish("closing", &payload) {
                        Ok(()) => {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => return e,
                    }
                    assert!(Instant::now() < deadline, "publishing never failed");
                }
            }));
        }
        // Let every thread publish a little (bounded spin, no sleep).
        let deadline = Instant::now() + WAIT;
        while counts.iter().any(|c| c.load(Ordering::Relaxed) < 100) {
            assert!(Instant::now() < deadline, "publishers did not start");
            std::thread::yield_now();
        }
        let start = Instant::now();
        nc.close().unwrap();
        let took = start.elapsed();
        assert_eq!(nc.state(), State::Closed);
        // Publishes racing with close must not keep it open until close_timeout (5 s).
        assert!(took < Duration::from_secs(3), "close took {took:?}");
        for th in threads {
            let e = th.join().expect("no panic in a publisher");
            assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
            assert!(e.is_closed());
        }
    });
    nc.close().unwrap();
    nc.close().unwrap();
    assert_eq!(nc.state(), State::Closed);
    assert!(nc.closed_timeout(WAIT).expect("closed in time").is_none());
    assert_kind(nc.flush(), ErrorKind::Closed);
}

fn drop_flushes(t: Transport) {
    const N: u32 = 1000;
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc.subscribe("dropped.pub").unwrap();
    nc.flush().unwrap();
    let pb = c.connect();
    let payload = vec![7u8; 1024];
    for i in 0..N {
        let mut p = i.to_be_bytes().to_vec();
        p.extend_from_slice(&payload);
        pb.publish("dropped.pub", p).unwrap();
    }
    drop(pb);
    for i in 0..N {
        let m = next(&sub);
        assert_eq!(seq(&m), i);
        assert_eq!(m.payload.len(), 1028);
    }
    assert_quiet(&nc, &sub);
    nc.close().unwrap();
}

/// With reconnecting turned off, a lost server closes the connection for good.
fn server_killed(t: Transport) {
    let mut c = Ctx::new(t);
    let nc = c.connect_with(c.opts().no_reconnect());
    let events = nc.events();
    let sub = nc.subscribe("killed").unwrap();
    nc.flush().unwrap();
    // A request that is waiting when the server dies.
    let pending = {
        let nc = nc.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            (nc.request_timeout("killed", "x", WAIT), start.elapsed())
        })
    };
    // The request has reached the server once the subscription sees it.
    next(&sub);
    c.server.stop();
    let mut disconnected = false;
    let reason = wait_event(&events, |e| match e {
        Event::Disconnected { .. } => {
            disconnected = true;
            None
        }
        Event::Closed { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(disconnected, "no Disconnected event before Closed");
    let reason = reason.expect("closed on an error");
    assert_ne!(reason.kind(), ErrorKind::Closed, "{reason}");
    assert_eq!(nc.state(), State::Closed);
    let why = nc
        .closed_timeout(WAIT)
        .expect("closed in time")
        .expect("closed() returns the error");
    assert_eq!(why.kind(), reason.kind());
    assert!(nc.close_reason().is_some());
    let (r, took) = pending.join().unwrap();
    let e = r.expect_err("the request cannot succeed");
    assert!(
        matches!(e.kind(), ErrorKind::Closed | ErrorKind::Disconnected),
        "{e}"
    );
    assert!(took < WAIT - Duration::from_secs(2), "{took:?}");
    assert_kind(nc.publish("killed", "x"), ErrorKind::Closed);
    assert_kind(nc.flush(), ErrorKind::Closed);
    let e = sub.next_timeout(Duration::from_secs(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    nc.close().unwrap();
    assert_eq!(nc.connected_url(), None);
}
