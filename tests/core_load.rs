//! Volume over every transport: queue groups, 1 MiB payloads, a million small messages in
//! order, eight publishing threads on one connection.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use natsws::test_server::Transport;
use natsws::{Connection, Subscription};

each_transport!(
    queue_groups,
    one_mib_payloads,
    million_messages_in_order,
    eight_publishing_threads,
);

fn ids(sub: &Subscription) -> Vec<u32> {
    sub.try_iter()
        .map(|m| u32::from_be_bytes(m.payload[..].try_into().unwrap()))
        .collect()
}

fn queue_groups(t: Transport) {
    const N: u32 = 300;
    let c = Ctx::new(t);
    let members: Vec<(Connection, Subscription)> = (0..3)
        .map(|_| {
            let nc = c.connect();
            let sub = nc.queue_subscribe("work", "workers").unwrap();
            assert_eq!(sub.queue(), Some("workers"));
            nc.flush().unwrap();
            (nc, sub)
        })
        .collect();
    let plain_nc = c.connect();
    let plain = plain_nc.subscribe("work").unwrap();
    plain_nc.flush().unwrap();
    let pb = c.connect();
    for i in 0..N {
        pb.publish("work", i.to_be_bytes()).unwrap();
    }
    pb.flush().unwrap();
    // After each connection's own round trip, everything routed to it has been dispatched.
    let mut seen = HashSet::new();
    let mut per_member = Vec::new();
    for (nc, sub) in &members {
        nc.flush().unwrap();
        let got = ids(sub);
        per_member.push(got.len());
        for id in got {
            assert!(seen.insert(id), "message {id} went to two members");
        }
    }
    assert_eq!(seen.len(), N as usize, "per member: {per_member:?}");
    assert!(per_member.iter().all(|&n| n > 0), "{per_member:?}");
    plain_nc.flush().unwrap();
    assert_eq!(ids(&plain), (0..N).collect::<Vec<_>>());
    for (nc, _) in &members {
        nc.close().unwrap();
    }
    plain_nc.close().unwrap();
    pb.close().unwrap();
}

fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| ((i * 31 + j * 7 + j / 251) % 256) as u8)
        .collect()
}

fn one_mib_payloads(t: Transport) {
    const MIB: usize = 1024 * 1024;
    let c = Ctx::with_config(t, "max_payload: 2MB");
    let nc = c.connect();
    assert_eq!(nc.max_payload(), 2 * MIB);
    let sub = nc.subscribe("big").unwrap();
    nc.flush().unwrap();
    let pb = c.connect();
    for i in 0..5 {
        pb.publish("big", pattern(i, MIB)).unwrap();
    }
    for i in 0..5 {
        let m = next(&sub);
        assert_eq!(m.payload.len(), MIB);
        assert!(m.payload[..] == pattern(i, MIB)[..], "payload {i} differs");
    }
    // Request/reply with 1 MiB each way (the responder echoes it reversed).
    let r = responder(&nc, "big.echo", |m| {
        let mut p = m.payload.to_vec();
        p.reverse();
        m.respond(p).unwrap();
    });
    for i in 0..3 {
        let p = pattern(i + 10, MIB);
        let reply = pb.request_timeout("big.echo", &p, WAIT).unwrap();
        let mut back = reply.payload.to_vec();
        back.reverse();
        assert!(back == p, "reply {i} differs");
    }
    // The largest message allowed, with headers.
    let mut h = natsws::Headers::new();
    h.insert("Big", "yes");
    let p = pattern(99, 2 * MIB - "NATS/1.0\r\nBig: yes\r\n\r\n".len());
    pb.publish_with_headers("big", &h, &p).unwrap();
    let m = next(&sub);
    assert!(m.payload[..] == p[..]);
    assert_eq!(m.headers.unwrap().get("big"), Some("yes"));
    nc.close().unwrap();
    r.join().unwrap();
    pb.close().unwrap();
}

fn million_messages_in_order(t: Transport) {
    const N: u64 = 1_000_000;
    let c = Ctx::new(t);
    let nc = c.connect_with(c.opts().pending_limits(0, 0));
    let sub = nc.subscribe("flood").unwrap();
    nc.flush().unwrap();
    let pb = c.connect();
    let start = Instant::now();
    let publisher = std::thread::spawn(move || {
        let mut p = [0xabu8; 16];
        for i in 0..N {
            p[..8].copy_from_slice(&i.to_be_bytes());
            pb.publish("flood", p).unwrap();
        }
        pb.flush_timeout(Duration::from_secs(60)).unwrap();
        pb.close().unwrap();
    });
    let deadline = start + Duration::from_secs(120);
    for i in 0..N {
        let m = match sub.next_timeout(WAIT) {
            Ok(m) => m,
            Err(e) => panic!("{t:?}: waiting for message {i} of {N}: {e}"),
        };
        assert_eq!(m.payload.len(), 16);
        let got = u64::from_be_bytes(m.payload[..8].try_into().unwrap());
        assert_eq!(got, i, "{t:?}: out of order");
        if i % 65536 == 0 {
            assert!(
                Instant::now() < deadline,
                "{t:?}: too slow: {i} after 120 s"
            );
        }
    }
    let took = start.elapsed();
    publisher.join().unwrap();
    assert_eq!(sub.dropped(), 0);
    assert_quiet(&nc, &sub);
    eprintln!(
        "million_messages_in_order {}: {N} messages in {took:.2?} ({:.0} msgs/s)",
        t.name(),
        N as f64 / took.as_secs_f64()
    );
    nc.close().unwrap();
}

fn eight_publishing_threads(t: Transport) {
    const THREADS: usize = 8;
    const PER: u32 = 10_000;
    let c = Ctx::new(t);
    let rx_nc = c.connect();
    let sub = rx_nc.subscribe("eight").unwrap();
    rx_nc.flush().unwrap();
    let nc = c.connect();
    std::thread::scope(|s| {
        for th in 0..THREADS {
            let nc = nc.clone();
            s.spawn(move || {
                for i in 0..PER {
                    let mut p = vec![th as u8];
                    p.extend_from_slice(&i.to_be_bytes());
                    nc.publish("eight", p).unwrap();
                }
            });
        }
    });
    nc.flush().unwrap();
    let mut next_seq = [0u32; THREADS];
    for n in 0..THREADS as u32 * PER {
        let m = sub
            .next_timeout(WAIT)
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
        let th = m.payload[0] as usize;
        let i = u32::from_be_bytes(m.payload[1..5].try_into().unwrap());
        assert_eq!(i, next_seq[th], "thread {th} out of order");
        next_seq[th] += 1;
    }
    assert_eq!(next_seq, [PER; THREADS]);
    assert_quiet(&rx_nc, &sub);
    assert_eq!(nc.stats().out_msgs, THREADS as u64 * PER as u64);
    nc.close().unwrap();
    rx_nc.close().unwrap();
}
