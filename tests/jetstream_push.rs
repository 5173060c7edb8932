//! Push consumers against a real nats-server with JetStream, over tcp, ws and wss: delivery,
//! queue groups, flow control answered when the reader reaches it, heartbeats, stalls.
#![cfg(feature = "jetstream")]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use natsws::jetstream::{AckPolicy, ConsumerConfig, JetStream, StorageType, StreamConfig};
use natsws::test_server::Transport;
use natsws::{ErrorKind, Headers};

each_transport!(
    push_delivers_in_order,
    push_queue_group_shares,
    push_flow_control_keeps_it_flowing,
    push_heartbeats,
    push_flow_control_and_stall_answered_by_reader,
    push_bad_config,
);

fn stream(js: &JetStream) {
    js.create_stream(
        StreamConfig::new("PU")
            .subjects(["pu.>"])
            .storage(StorageType::Memory),
    )
    .unwrap();
}

fn fill(js: &JetStream, n: usize, payload: &[u8]) {
    for _ in 0..n {
        js.publish_async("pu.x", payload).unwrap();
    }
    js.wait_for_acks(WAIT).unwrap();
}

fn push_delivers_in_order(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js);
    // Stored before the consumer exists, and after.
    fill(&js, 50, b"x");
    let mut pc = js
        .create_push_consumer("PU", ConsumerConfig::durable("p"))
        .unwrap();
    assert!(pc.deliver_subject().starts_with("_INBOX."));
    fill(&js, 50, b"y");
    for want in 1..=100u64 {
        let m = pc.next_timeout(WAIT).unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
        m.ack().unwrap();
    }
    assert_kind(
        pc.next_timeout(Duration::from_millis(300)),
        ErrorKind::Timeout,
    );
    nc.flush().unwrap();
    let info = pc.info().unwrap();
    assert_eq!(info.ack_floor.stream_seq, 100);
    assert!(info.push_bound);
}

fn push_queue_group_shares(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js);
    let mut cfg = ConsumerConfig::durable("q");
    cfg.deliver_subject = "deliver.q".into();
    cfg.deliver_group = "workers".into();
    let mut a = js.create_push_consumer("PU", cfg.clone()).unwrap();
    let nc2 = c.connect();
    let mut b = nc2.jetstream().create_push_consumer("PU", cfg).unwrap();
    nc2.flush().unwrap();
    fill(&js, 200, b"x");
    let mut seen = HashSet::new();
    while seen.len() < 200 {
        let mut progressed = false;
        for pc in [&mut a, &mut b] {
            match pc.next_timeout(Duration::from_millis(50)) {
                Ok(m) => {
                    assert!(seen.insert(m.metadata().unwrap().stream_sequence));
                    m.ack().unwrap();
                    progressed = true;
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::Timeout, "{e}"),
            }
        }
        assert!(progressed || seen.len() == 200, "stuck at {}", seen.len());
    }
    assert_eq!(seen, (1..=200).collect::<HashSet<u64>>());
}

fn push_flow_control_keeps_it_flowing(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js);
    fill(&js, 3000, &[b'f'; 8192]);
    let mut cfg = ConsumerConfig::durable("fc").ack_policy(AckPolicy::None);
    cfg.flow_control = true;
    cfg.idle_heartbeat = Duration::from_secs(1);
    let mut pc = js.create_push_consumer("PU", cfg).unwrap();
    for want in 1..=3000u64 {
        let m = pc.next_timeout(WAIT).unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
    }
    // 24 MB cannot go through without the flow-control requests being answered.
    assert!(pc.flow_controls_answered() > 0);
}

fn push_heartbeats(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js);
    let mut cfg = ConsumerConfig::durable("hb");
    cfg.idle_heartbeat = Duration::from_millis(200);
    let mut pc = js.create_push_consumer("PU", cfg).unwrap();
    // Heartbeats are neither messages nor errors.
    assert_kind(
        pc.next_timeout(Duration::from_millis(1500)),
        ErrorKind::Timeout,
    );
    js.delete_consumer("PU", "hb").unwrap();
    // No more heartbeats: three missed ones are reported.
    assert_kind(pc.next_timeout(WAIT), ErrorKind::NoHeartbeat);
}

fn push_flow_control_and_stall_answered_by_reader(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js);
    let mut cfg = ConsumerConfig::durable("fake");
    cfg.deliver_subject = "fake.deliver".into();
    let mut pc = js.create_push_consumer("PU", cfg).unwrap();
    // Another connection plays the server: a message, then a flow-control request, then a
    // heartbeat saying the consumer is stalled.
    let other = c.connect_tcp();
    let fc_reply = other.subscribe("fake.fc").unwrap();
    let stalled = other.subscribe("fake.stalled").unwrap();
    other.flush().unwrap();
    other.publish("fake.deliver", "first").unwrap();
    let mut fc = Headers::new();
    fc.set_status(100, Some("FlowControl Request"));
    other
        .publish_message(
            &natsws::Message::new("fake.deliver", "")
                .with_reply("fake.fc")
                .with_headers(fc),
        )
        .unwrap();
    let mut hb = Headers::new();
    hb.set_status(100, Some("Idle Heartbeat"));
    hb.insert("Nats-Consumer-Stalled", "fake.stalled");
    other.publish_with_headers("fake.deliver", &hb, "").unwrap();
    other.publish_with_headers("fake.deliver", &hb, "").unwrap();
    other.publish("fake.deliver", "second").unwrap();
    other.flush().unwrap();
    nc.flush().unwrap();
    // Not answered before the reader reaches it.
    assert_quiet(&other, &fc_reply);
    let m = pc.next_timeout(WAIT).unwrap();
    assert_eq!(&m.payload()[..], b"first");
    assert_quiet(&other, &fc_reply);
    let m = pc.next_timeout(WAIT).unwrap();
    assert_eq!(&m.payload()[..], b"second");
    assert_eq!(pc.flow_controls_answered(), 1);
    assert!(next(&fc_reply).payload.is_empty());
    // The stall is answered once for the same subject.
    assert!(next(&stalled).payload.is_empty());
    assert_quiet(&other, &stalled);
}

fn push_bad_config(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js);
    nc.flush().unwrap();
    let before = nc.stats().out_msgs;
    let mut cfg = ConsumerConfig::durable("bad");
    cfg.deliver_group = "g".into();
    cfg.flow_control = true;
    cfg.idle_heartbeat = Duration::from_secs(1);
    assert_kind(js.create_push_consumer("PU", cfg), ErrorKind::InvalidOption);
    let mut cfg = ConsumerConfig::durable("bad");
    cfg.flow_control = true;
    assert_kind(js.create_push_consumer("PU", cfg), ErrorKind::InvalidOption);
    let mut cfg = ConsumerConfig::durable("bad");
    cfg.deliver_subject = "a.*".into();
    assert_kind(
        js.create_push_consumer("PU", cfg),
        ErrorKind::InvalidSubject,
    );
    assert_kind(
        js.create_push_consumer("P.U", ConsumerConfig::durable("x")),
        ErrorKind::InvalidName,
    );
    assert_eq!(nc.stats().out_msgs, before, "nothing may be sent");
}
