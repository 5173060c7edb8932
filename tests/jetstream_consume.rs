//! Continuous consumption (ADR-37) against a real nats-server with JetStream, over tcp, ws
//! and wss: re-pulls, bounded buffering, consumer deleted, server restart.
#![cfg(feature = "jetstream")]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use natsws::jetstream::{ConsumeOptions, ConsumerConfig, JetStream, StorageType, StreamConfig};
use natsws::test_server::Transport;
use natsws::ErrorKind;

each_transport!(
    consume_everything_in_order,
    slow_reader_buffers_at_most_max_messages,
    max_messages_one_does_not_stall,
    consume_by_bytes,
    consumer_deleted_ends_consume,
    consume_survives_server_restart,
    consume_survives_reconnect,
);

fn stream(js: &JetStream, storage: StorageType) {
    js.create_stream(StreamConfig::new("K").subjects(["k.>"]).storage(storage))
        .unwrap();
}

fn fill(js: &JetStream, n: usize, payload: &[u8]) {
    for _ in 0..n {
        js.publish_async("k.x", payload).unwrap();
    }
    js.wait_for_acks(WAIT).unwrap();
}

fn quick() -> ConsumeOptions {
    ConsumeOptions::new()
        .expires(Duration::from_secs(2))
        .heartbeat(Duration::from_millis(500))
}

fn consume_everything_in_order(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, 2000, b"payload");
    let mut con = js
        .create_consumer("K", ConsumerConfig::durable("all"))
        .unwrap();
    let mut msgs = con
        .messages(ConsumeOptions::new().max_messages(100))
        .unwrap();
    for want in 1..=2000u64 {
        let m = msgs.next_timeout(WAIT).unwrap();
        let md = m.metadata().unwrap();
        assert_eq!((md.stream_sequence, md.num_delivered), (want, 1));
        m.ack().unwrap();
    }
    // Published later, read by the same iterator.
    fill(&js, 10, b"late");
    for want in 2001..=2010u64 {
        let m = msgs.next().unwrap().unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
        assert_eq!(&m.payload()[..], b"late");
        m.ack_sync(WAIT).unwrap();
    }
    assert_kind(
        msgs.next_timeout(Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    nc.flush().unwrap();
    let info = con.info().unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0));
    assert_eq!(info.ack_floor.stream_seq, 2010);
}

fn slow_reader_buffers_at_most_max_messages(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, 1000, b"x");
    let mut con = js
        .create_consumer("K", ConsumerConfig::durable("slow"))
        .unwrap();
    let mut msgs = con
        .messages(ConsumeOptions::new().max_messages(50))
        .unwrap();
    let first = msgs.next_timeout(WAIT).unwrap();
    assert_eq!(first.metadata().unwrap().stream_sequence, 1);
    // Nothing is acked, so what the server delivered is what is ack-pending: exactly the
    // 50 asked for, and no more however long the reader waits.
    let deadline = Instant::now() + WAIT;
    while con.info().unwrap().num_ack_pending < 50 {
        assert!(Instant::now() < deadline, "the 50 never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    nc.flush().unwrap();
    assert_eq!(con.info().unwrap().num_ack_pending, 50);
    // Reading down to the threshold (25 still to come) pulls the difference.
    let mut seen = HashSet::from([1u64]);
    for _ in 0..25 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert!(seen.insert(m.metadata().unwrap().stream_sequence));
    }
    let deadline = Instant::now() + WAIT;
    while con.info().unwrap().num_ack_pending < 75 {
        assert!(Instant::now() < deadline, "the second pull never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    nc.flush().unwrap();
    assert_eq!(con.info().unwrap().num_ack_pending, 75);
}

fn max_messages_one_does_not_stall(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, 20, b"x");
    let con = js
        .create_consumer("K", ConsumerConfig::durable("one"))
        .unwrap();
    let mut msgs = con.messages(ConsumeOptions::new().max_messages(1)).unwrap();
    for want in 1..=20u64 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
        m.ack().unwrap();
    }
}

fn consume_by_bytes(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, 100, &[b'b'; 200]);
    let con = js
        .create_consumer("K", ConsumerConfig::durable("bytes"))
        .unwrap();
    let mut msgs = con.messages(ConsumeOptions::new().max_bytes(2000)).unwrap();
    for want in 1..=100u64 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
        m.ack().unwrap();
    }
}

fn consumer_deleted_ends_consume(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, 3, b"x");
    let con = js
        .create_consumer("K", ConsumerConfig::durable("gone"))
        .unwrap();
    let mut msgs = con.messages(quick()).unwrap();
    for _ in 0..3 {
        msgs.next_timeout(WAIT).unwrap().ack().unwrap();
    }
    js.delete_consumer("K", "gone").unwrap();
    assert_kind(msgs.next_timeout(WAIT), ErrorKind::ConsumerDeleted);
    assert!(msgs.next().is_none());
    assert!(con.messages(ConsumeOptions::new().max_messages(0)).is_err());
    let mut push = ConsumerConfig::durable("push");
    push.deliver_subject = "push.here".into();
    let push = js.create_consumer("K", push).unwrap();
    assert_kind(
        push.messages(ConsumeOptions::new()),
        ErrorKind::InvalidOption,
    );
}

fn consume_survives_server_restart(t: Transport) {
    let mut c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    stream(&js, StorageType::File);
    fill(&js, 20, b"before");
    let con = js
        .create_consumer("K", ConsumerConfig::durable("dur"))
        .unwrap();
    let mut msgs = con.messages(quick().max_messages(10)).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert!(seen.insert(m.metadata().unwrap().stream_sequence));
        m.ack_sync(WAIT).unwrap();
    }
    c.server.restart().unwrap();
    // The iterator does not end: after the reconnect it pulls afresh.
    let js2 = nc.jetstream();
    assert_eq!(seen, (1..=10).collect::<HashSet<u64>>());
    let deadline = Instant::now() + WAIT;
    while seen.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "only {} after the restart",
            seen.len()
        );
        match msgs.next_timeout(Duration::from_secs(1)) {
            Ok(m) => {
                let seq = m.metadata().unwrap().stream_sequence;
                // At least once: the server was killed (SIGKILL), so acks it had not yet
                // written may be lost and those messages come again; none may be missing.
                assert!((1..=20).contains(&seq), "{seq}");
                seen.insert(seq);
                // A plain ack: the restarted server may not confirm acks of deliveries
                // made before the restart.
                m.ack().unwrap();
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Timeout, "{e}"),
        }
    }
    let deadline = Instant::now() + WAIT;
    loop {
        match js2.publish("k.x", "after") {
            Ok(ack) => {
                assert_eq!(ack.sequence, 21);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "publish after restart: {e}"),
        }
    }
    // Redeliveries of earlier ones may still come first.
    loop {
        let m = msgs.next_timeout(WAIT).unwrap();
        let seq = m.metadata().unwrap().stream_sequence;
        m.ack().unwrap();
        if seq <= 20 {
            continue;
        }
        assert_eq!(seq, 21);
        assert_eq!(&m.payload()[..], b"after");
        break;
    }
}

fn consume_survives_reconnect(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, 40, b"x");
    let con = js
        .create_consumer(
            "K",
            ConsumerConfig::durable("re").ack_wait(Duration::from_secs(2)),
        )
        .unwrap();
    let mut msgs = con.messages(quick().max_messages(10)).unwrap();
    let mut acked = HashSet::new();
    for _ in 0..10 {
        let m = msgs.next_timeout(WAIT).unwrap();
        acked.insert(m.metadata().unwrap().stream_sequence);
        m.ack_sync(WAIT).unwrap();
    }
    nc.force_reconnect().unwrap();
    // Messages in flight during the reconnect come again after the ack wait; confirmed acks
    // never do. (The server may leave an ack of a delivery it has since redelivered
    // unconfirmed: such a message may come again.)
    // An ack whose confirmation does not come in time (a loaded machine) may still have
    // reached the server: that message need not come again.
    let mut unconfirmed = HashSet::new();
    let deadline = Instant::now() + 2 * WAIT;
    while acked.union(&unconfirmed).count() < 40 {
        assert!(
            Instant::now() < deadline,
            "only {} (+{} unconfirmed) after the reconnect",
            acked.len(),
            unconfirmed.len()
        );
        match msgs.next_timeout(Duration::from_secs(1)) {
            Ok(m) => {
                let seq = m.metadata().unwrap().stream_sequence;
                if acked.contains(&seq) {
                    panic!("acked sequence {seq} came again");
                }
                match m.ack_sync(Duration::from_millis(500)) {
                    Ok(()) => {
                        unconfirmed.remove(&seq);
                        acked.insert(seq);
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
                        unconfirmed.insert(seq);
                    }
                }
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Timeout, "{e}"),
        }
    }
    let seen: HashSet<u64> = acked.union(&unconfirmed).copied().collect();
    assert_eq!(seen, (1..=40).collect::<HashSet<u64>>());
}
