//! Ordered consumers against a real nats-server with JetStream, over tcp, ws and wss: every
//! message once and in order across a deleted consumer, a reconnect and a server restart.
#![cfg(feature = "jetstream")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use natsws::jetstream::{
    ConsumeOptions, DeliverPolicy, FetchOptions, JetStream, OrderedConsumerConfig, OrderedMessages,
    StorageType, StreamConfig,
};
use natsws::test_server::Transport;
use natsws::ErrorKind;

each_transport!(
    ordered_reads_everything_in_order,
    ordered_recreates_when_deleted,
    ordered_across_reconnect,
    ordered_across_server_restart,
    ordered_filters_and_start,
    ordered_fetch_and_next,
);

fn stream(js: &JetStream, storage: StorageType) {
    js.create_stream(StreamConfig::new("O").subjects(["o.>"]).storage(storage))
        .unwrap();
}

fn fill(js: &JetStream, subject: &str, from: usize, n: usize) {
    for i in from..from + n {
        js.publish_async(subject, format!("{i}")).unwrap();
    }
    js.wait_for_acks(WAIT).unwrap();
}

fn quick() -> ConsumeOptions {
    ConsumeOptions::new()
        .expires(Duration::from_secs(2))
        .heartbeat(Duration::from_millis(500))
}

/// Reads the stream sequences `range` in order, each exactly once.
#[track_caller]
fn expect_seqs(msgs: &mut OrderedMessages, range: std::ops::RangeInclusive<u64>) {
    for want in range {
        let m = msgs
            .next_timeout(WAIT)
            .unwrap_or_else(|e| panic!("waiting for sequence {want}: {e}"));
        let md = m.metadata().unwrap();
        assert_eq!(md.stream_sequence, want);
        assert_eq!(&m.payload()[..], format!("{}", want - 1).as_bytes());
    }
}

fn ordered_reads_everything_in_order(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, "o.a", 0, 3000);
    let oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new())
        .unwrap();
    let name = oc.current_name().unwrap().to_string();
    assert!(name.ends_with("_1"), "{name}");
    // What the consumer had to deliver when it was created.
    let info = oc.current_info().unwrap();
    assert_eq!(
        (info.name.as_str(), info.num_pending),
        (name.as_str(), 3000)
    );
    let mut msgs = oc.messages(ConsumeOptions::new()).unwrap();
    expect_seqs(&mut msgs, 1..=3000);
    assert_eq!(msgs.last_stream_sequence(), 3000);
    // Acks are no-ops on an ordered consumer.
    assert_kind(
        msgs.next_timeout(Duration::from_millis(300)),
        ErrorKind::Timeout,
    );
    fill(&js, "o.a", 3000, 5);
    expect_seqs(&mut msgs, 3001..=3005);
    assert_eq!(msgs.current_name().unwrap(), name);
}

fn ordered_recreates_when_deleted(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, "o.a", 0, 30);
    let oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new())
        .unwrap();
    let mut msgs = oc.messages(quick().max_messages(5)).unwrap();
    expect_seqs(&mut msgs, 1..=10);
    let first = msgs.current_name().unwrap().to_string();
    js.delete_consumer("O", &first).unwrap();
    expect_seqs(&mut msgs, 11..=30);
    let second = msgs.current_name().unwrap().to_string();
    assert_ne!(first, second);
    assert!(second.ends_with("_2"), "{second}");
    fill(&js, "o.a", 30, 3);
    expect_seqs(&mut msgs, 31..=33);
    // The stream deleted: recreating cannot work, the iterator ends.
    js.delete_stream("O").unwrap();
    assert_kind(msgs.next_timeout(WAIT), ErrorKind::StreamNotFound);
    assert!(msgs.next().is_none());
}

fn ordered_across_reconnect(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, "o.a", 0, 50);
    let oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new())
        .unwrap();
    let mut msgs = oc.messages(quick().max_messages(10)).unwrap();
    expect_seqs(&mut msgs, 1..=15);
    nc.force_reconnect().unwrap();
    expect_seqs(&mut msgs, 16..=50);
    fill(&js, "o.a", 50, 5);
    expect_seqs(&mut msgs, 51..=55);
}

fn ordered_across_server_restart(t: Transport) {
    let mut c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    stream(&js, StorageType::File);
    fill(&js, "o.a", 0, 40);
    let oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new())
        .unwrap();
    let mut msgs = oc.messages(quick().max_messages(10)).unwrap();
    expect_seqs(&mut msgs, 1..=12);
    c.server.restart().unwrap();
    expect_seqs(&mut msgs, 13..=40);
    let deadline = Instant::now() + WAIT;
    loop {
        match js.publish("o.a", "40") {
            Ok(ack) => {
                assert_eq!(ack.sequence, 41);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "publish after restart: {e}"),
        }
    }
    expect_seqs(&mut msgs, 41..=41);
}

fn ordered_filters_and_start(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    // Sequences 1..=10 on o.a, 11..=20 on o.b, 21..=30 on o.a.
    fill(&js, "o.a", 0, 10);
    fill(&js, "o.b", 10, 10);
    fill(&js, "o.a", 20, 10);
    let oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new().filter_subjects(["o.b"]))
        .unwrap();
    let mut msgs = oc.messages(quick()).unwrap();
    expect_seqs(&mut msgs, 11..=20);
    let oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new().start_sequence(25))
        .unwrap();
    let mut msgs = oc.messages(quick()).unwrap();
    expect_seqs(&mut msgs, 25..=30);
    let oc = js
        .ordered_consumer(
            "O",
            OrderedConsumerConfig::new().deliver_policy(DeliverPolicy::LastPerSubject),
        )
        .unwrap();
    let mut msgs = oc.messages(quick()).unwrap();
    expect_seqs(&mut msgs, 20..=20);
    expect_seqs(&mut msgs, 30..=30);
    let oc = js
        .ordered_consumer(
            "O",
            OrderedConsumerConfig::new().filter_subjects(["o.a", "o.b"]),
        )
        .unwrap();
    let mut msgs = oc.messages(quick()).unwrap();
    expect_seqs(&mut msgs, 1..=30);
    assert_kind(
        js.ordered_consumer("A.B", OrderedConsumerConfig::new()),
        ErrorKind::InvalidName,
    );
    assert_kind(
        js.ordered_consumer("NONE", OrderedConsumerConfig::new()),
        ErrorKind::StreamNotFound,
    );
}

fn ordered_fetch_and_next(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    stream(&js, StorageType::Memory);
    fill(&js, "o.a", 0, 25);
    let mut oc = js
        .ordered_consumer("O", OrderedConsumerConfig::new())
        .unwrap();
    let seqs = |b: natsws::jetstream::OrderedBatch<'_>| -> Vec<u64> {
        b.map(|m| m.unwrap().metadata().unwrap().stream_sequence)
            .collect()
    };
    let quick = || FetchOptions::new(10).expires(Duration::from_millis(500));
    assert_eq!(
        seqs(oc.fetch(quick()).unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(oc.fetch(quick()).unwrap()),
        (11..=20).collect::<Vec<_>>()
    );
    let first = oc.current_name().unwrap().to_string();
    js.delete_consumer("O", &first).unwrap();
    // The batch that meets the missing consumer ends quietly; the next one recreates it.
    assert!(seqs(oc.fetch(quick()).unwrap()).is_empty());
    assert_eq!(
        seqs(oc.fetch(quick()).unwrap()),
        (21..=25).collect::<Vec<_>>()
    );
    assert_ne!(oc.current_name().unwrap(), first);
    assert_kind(oc.next(Duration::from_millis(200)), ErrorKind::Timeout);
    fill(&js, "o.a", 25, 1);
    let m = oc.next(WAIT).unwrap();
    assert_eq!(m.metadata().unwrap().stream_sequence, 26);
}
