//! Pull consumers (fetch, fetch_no_wait, fetch_bytes, next) and acks against a real
//! nats-server with JetStream, over tcp, ws and wss.
#![cfg(feature = "jetstream")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use natsws::jetstream::{
    AckPolicy, Consumer, ConsumerConfig, FetchOptions, JetStream, JsMessage, StorageType,
    StreamConfig,
};
use natsws::test_server::Transport;
use natsws::ErrorKind;

each_transport!(
    fetch_full_batches,
    fetch_waits_until_expires,
    fetch_no_wait_takes_what_is_there,
    fetch_by_bytes,
    next_message,
    acks_and_metadata,
    ack_none_sends_nothing,
    bad_fetch_options_send_nothing,
    consumer_deleted_ends_fetch,
    heartbeats_keep_a_fetch_alive,
);

fn setup(t: Transport) -> (Ctx, natsws::Connection, JetStream) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    js.create_stream(
        StreamConfig::new("Q")
            .subjects(["q.>"])
            .storage(StorageType::Memory),
    )
    .unwrap();
    (c, nc, js)
}

fn fill(js: &JetStream, n: usize) {
    for i in 0..n {
        js.publish("q.x", format!("m{i}")).unwrap();
    }
}

fn durable(js: &JetStream, name: &str) -> Consumer {
    js.create_consumer("Q", ConsumerConfig::durable(name))
        .unwrap()
}

fn collect(b: natsws::jetstream::Batch) -> Vec<JsMessage> {
    b.map(|r| r.unwrap()).collect()
}

fn fetch_full_batches(t: Transport) {
    let (_c, _nc, js) = setup(t);
    fill(&js, 10);
    let con = durable(&js, "c");
    let start = Instant::now();
    let first = collect(con.fetch(FetchOptions::new(5)).unwrap());
    let second = collect(con.fetch(FetchOptions::new(5)).unwrap());
    // Full batches end at once, not at expires (30 s).
    assert!(start.elapsed() < Duration::from_secs(5));
    let seqs: Vec<u64> = first
        .iter()
        .chain(&second)
        .map(|m| m.metadata().unwrap().stream_sequence)
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(&first[0].payload()[..], b"m0");
    assert_eq!(first[0].subject(), "q.x");
    for m in first.iter().chain(&second) {
        m.ack().unwrap();
    }
    let empty = collect(
        con.fetch(FetchOptions::new(5).expires(Duration::from_millis(300)))
            .unwrap(),
    );
    assert!(empty.is_empty());
}

fn fetch_waits_until_expires(t: Transport) {
    let (_c, _nc, js) = setup(t);
    fill(&js, 3);
    let con = durable(&js, "c");
    let start = Instant::now();
    let got = collect(
        con.fetch(FetchOptions::new(10).expires(Duration::from_millis(600)))
            .unwrap(),
    );
    assert_eq!(got.len(), 3);
    // Like nats.go: fewer messages than the batch means waiting until expires.
    assert!(
        start.elapsed() >= Duration::from_millis(550),
        "{:?}",
        start.elapsed()
    );
    // Messages stored while the request waits are part of the batch, which ends when full.
    let mut b = con
        .fetch(FetchOptions::new(4).expires(Duration::from_secs(20)))
        .unwrap();
    js.publish("q.x", "late1").unwrap();
    assert_eq!(&b.next().unwrap().unwrap().payload()[..], b"late1");
    fill(&js, 3);
    let rest: Vec<JsMessage> = b.by_ref().map(|r| r.unwrap()).collect();
    assert_eq!(rest.len(), 3);
    assert!(b.next().is_none());
}

fn fetch_no_wait_takes_what_is_there(t: Transport) {
    let (_c, _nc, js) = setup(t);
    let con = durable(&js, "c");
    let start = Instant::now();
    assert!(collect(con.fetch_no_wait(10).unwrap()).is_empty());
    fill(&js, 3);
    let got = collect(con.fetch_no_wait(10).unwrap());
    assert_eq!(got.len(), 3);
    // Those three wait for acks; of three more, a batch of 2 takes two.
    fill(&js, 3);
    let got = collect(con.fetch_no_wait(2).unwrap());
    let seqs: Vec<u64> = got
        .iter()
        .map(|m| m.metadata().unwrap().stream_sequence)
        .collect();
    assert_eq!(seqs, [4, 5]);
    assert!(start.elapsed() < Duration::from_secs(3));
}

fn fetch_by_bytes(t: Transport) {
    let (_c, _nc, js) = setup(t);
    for _ in 0..5 {
        js.publish("q.x", vec![b'x'; 100]).unwrap();
    }
    let con = durable(&js, "c");
    // One message is bigger than 50 bytes: an empty batch, no error.
    let none = collect(
        con.fetch(FetchOptions::bytes(50).expires(Duration::from_millis(500)))
            .unwrap(),
    );
    assert!(none.is_empty());
    let all = collect(
        con.fetch(FetchOptions::bytes(100_000).expires(Duration::from_millis(500)))
            .unwrap(),
    );
    assert_eq!(all.len(), 5);
    // A budget for about three: the server ends the batch when the next does not fit.
    let con3 = durable(&js, "c3");
    let start = Instant::now();
    let mut b = con3
        .fetch(FetchOptions::bytes(700).expires(Duration::from_secs(5)))
        .unwrap();
    let mut total = 0;
    let mut n = 0;
    for m in b.by_ref() {
        let m = m.unwrap();
        total += m.subject().len() + m.reply().unwrap().len() + m.payload().len();
        n += 1;
    }
    // Each counts subject + reply + payload (no headers): 4 fit in 700, not 5.
    assert_eq!(n, 4);
    assert!(total <= 700, "{total}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "ended by the server, not expires"
    );
    // Count and bytes together: the count bounds it.
    let con2 = durable(&js, "c2");
    let two = collect(
        con2.fetch(
            FetchOptions::new(2)
                .max_bytes(100_000)
                .expires(Duration::from_millis(500)),
        )
        .unwrap(),
    );
    assert_eq!(two.len(), 2);
}

fn next_message(t: Transport) {
    let (_c, _nc, js) = setup(t);
    let con = durable(&js, "c");
    assert_kind(con.next(Duration::from_millis(200)), ErrorKind::Timeout);
    fill(&js, 2);
    let m = con.next(WAIT).unwrap();
    assert_eq!(m.metadata().unwrap().stream_sequence, 1);
    m.ack().unwrap();
    let m = con.next(WAIT).unwrap();
    assert_eq!(m.metadata().unwrap().stream_sequence, 2);
}

fn acks_and_metadata(t: Transport) {
    let (_c, _nc, js) = setup(t);
    fill(&js, 6);
    let mut con = js
        .create_consumer(
            "Q",
            ConsumerConfig::durable("acker").ack_wait(Duration::from_secs(30)),
        )
        .unwrap();
    let msgs = collect(con.fetch(FetchOptions::new(6)).unwrap());
    assert_eq!(msgs.len(), 6);
    let md = msgs[2].metadata().unwrap();
    assert_eq!((md.stream.as_str(), md.consumer.as_str()), ("Q", "acker"));
    assert_eq!((md.stream_sequence, md.consumer_sequence), (3, 3));
    assert_eq!((md.num_delivered, md.num_pending), (1, 3));
    assert!(md.timestamp > std::time::UNIX_EPOCH);

    msgs[0].ack().unwrap();
    assert!(msgs[0].is_acked());
    assert_kind(msgs[0].ack(), ErrorKind::AlreadyAcked);
    assert_kind(msgs[0].nak(), ErrorKind::AlreadyAcked);
    assert_kind(msgs[0].in_progress(), ErrorKind::AlreadyAcked);
    msgs[1].ack_sync(WAIT).unwrap();
    assert_kind(msgs[1].ack_sync(WAIT), ErrorKind::AlreadyAcked);
    msgs[2].in_progress().unwrap();
    msgs[2].in_progress().unwrap();
    msgs[2].nak().unwrap();
    msgs[3].nak_with_delay(Duration::from_secs(30)).unwrap();
    msgs[4].term().unwrap();
    msgs[5].term_with_reason("bad input").unwrap();
    assert_kind(msgs[5].term(), ErrorKind::AlreadyAcked);
    // Only the plain nak comes back now, as a redelivery.
    let again = collect(
        con.fetch(FetchOptions::new(5).expires(Duration::from_millis(500)))
            .unwrap(),
    );
    assert_eq!(again.len(), 1);
    let md = again[0].metadata().unwrap();
    assert_eq!((md.stream_sequence, md.num_delivered), (3, 2));
    let info = con.info().unwrap();
    assert_eq!(info.num_redelivered, 1);
    assert_eq!(info.num_ack_pending, 2);
    again[0].ack_sync(WAIT).unwrap();
    let info = con.info().unwrap();
    assert_eq!(info.num_ack_pending, 1, "the delayed nak is pending");
    assert_eq!(info.num_redelivered, 0);
    assert_eq!(info.ack_floor.stream_seq, 3);
}

fn ack_none_sends_nothing(t: Transport) {
    let (_c, nc, js) = setup(t);
    fill(&js, 2);
    let con = js
        .create_consumer(
            "Q",
            ConsumerConfig::durable("none").ack_policy(AckPolicy::None),
        )
        .unwrap();
    let msgs = collect(con.fetch(FetchOptions::new(2)).unwrap());
    assert_eq!(msgs.len(), 2);
    nc.flush().unwrap();
    let before = nc.stats().out_msgs;
    msgs[0].ack().unwrap();
    msgs[1].ack_sync(WAIT).unwrap();
    assert_kind(msgs[0].ack(), ErrorKind::AlreadyAcked);
    assert_eq!(nc.stats().out_msgs, before, "no ack may be sent");
}

fn bad_fetch_options_send_nothing(t: Transport) {
    let (_c, nc, js) = setup(t);
    let con = durable(&js, "c");
    nc.flush().unwrap();
    let before = nc.stats().out_msgs;
    assert_kind(con.fetch(FetchOptions::new(0)), ErrorKind::InvalidOption);
    assert_kind(con.fetch_no_wait(0), ErrorKind::InvalidOption);
    assert_kind(
        con.fetch(FetchOptions::new(1).expires(Duration::from_millis(1))),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        con.fetch(
            FetchOptions::new(1)
                .expires(Duration::from_secs(2))
                .heartbeat(Duration::from_millis(1001)),
        ),
        ErrorKind::InvalidOption,
    );
    assert_kind(con.fetch_bytes(0), ErrorKind::InvalidOption);
    assert_eq!(nc.stats().out_msgs, before, "nothing may be sent");
    // A push consumer cannot be pulled.
    let mut push = ConsumerConfig::durable("push");
    push.deliver_subject = "deliver.here".into();
    let push = js.create_consumer("Q", push).unwrap();
    assert_kind(push.fetch(FetchOptions::new(1)), ErrorKind::InvalidOption);
}

fn consumer_deleted_ends_fetch(t: Transport) {
    let (c, _nc, js) = setup(t);
    let con = durable(&js, "doomed");
    let mut b = con
        .fetch(FetchOptions::new(10).expires(Duration::from_secs(20)))
        .unwrap();
    let other = c.connect_tcp();
    // The pull is registered once a round trip of ours has completed.
    js.connection().flush().unwrap();
    other.jetstream().delete_consumer("Q", "doomed").unwrap();
    assert_kind(b.next().unwrap(), ErrorKind::ConsumerDeleted);
    assert!(b.next().is_none());
    assert_kind(
        con.fetch(FetchOptions::new(1).expires(Duration::from_secs(1)))
            .unwrap()
            .next()
            .unwrap(),
        ErrorKind::ConsumerNotFound,
    );
}

fn heartbeats_keep_a_fetch_alive(t: Transport) {
    let (_c, _nc, js) = setup(t);
    let con = durable(&js, "hb");
    let start = Instant::now();
    let mut b = con
        .fetch(
            FetchOptions::new(1)
                .expires(Duration::from_millis(1500))
                .heartbeat(Duration::from_millis(200)),
        )
        .unwrap();
    // Heartbeats are neither messages nor errors; the batch ends at expires.
    assert!(b.next().is_none());
    assert!(start.elapsed() >= Duration::from_millis(1400));
}
