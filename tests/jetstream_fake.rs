//! JetStream client behaviour that a real server rarely shows on demand, checked against a
//! fake JetStream API (another connection answering on the prefix `fake.`): missed
//! heartbeats, pull accounting, and (through a recording proxy to a real JetStream) a
//! sequence gap of an ordered consumer. Over tcp, ws and wss. (The server refuses clients a
//! `$JS.ACK…` reply subject, so fake deliveries carry `fake.ack.<n>` replies.)
#![cfg(feature = "jetstream")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::Receiver;
use natsws::jetstream::{
    ConsumeOptions, FetchOptions, JetStream, JetStreamOptions, OrderedConsumerConfig,
};
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind, Headers, Message};

each_transport!(
    fetch_missed_heartbeats,
    consume_repulls_after_missed_heartbeats,
    consume_pull_accounting,
    ordered_recreates_on_a_gap,
    ordered_recreates_on_missed_heartbeats,
);

/// A fake JetStream API on `fake.`: consumer info and create are answered, every request is
/// recorded; pulls are not answered (the test delivers by hand).
struct Fake {
    nc: Connection,
    requests: Receiver<Message>,
}

fn fake(c: &Ctx) -> Fake {
    let nc = c.connect_tcp();
    let sub = nc.subscribe("fake.>").unwrap();
    nc.flush().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for m in sub.iter() {
            let s = m.subject.as_str();
            let info = |name: &str| {
                format!(
                    r#"{{"stream_name":"S","name":"{name}","config":{{"name":"{name}","ack_policy":"explicit"}}}}"#
                )
            };
            if let Some(name) = s.strip_prefix("fake.CONSUMER.INFO.S.") {
                m.respond(info(name)).unwrap();
            } else if let Some(name) = s.strip_prefix("fake.CONSUMER.CREATE.S.") {
                m.respond(info(name)).unwrap();
            }
            let _ = tx.send(m);
        }
    });
    Fake { nc, requests: rx }
}

impl Fake {
    /// The next request on a subject starting with `prefix` (others are skipped).
    fn next(&self, prefix: &str) -> Message {
        let deadline = Instant::now() + WAIT;
        loop {
            let m = self
                .requests
                .recv_deadline(deadline)
                .unwrap_or_else(|_| panic!("no request on {prefix}*"));
            if m.subject.starts_with(prefix) {
                return m;
            }
        }
    }

    /// Delivers message `n` to a pull inbox.
    fn deliver_to(&self, inbox: &str, n: u64) {
        self.nc
            .publish_with_reply(inbox, &format!("fake.ack.{n}"), format!("m{n}"))
            .unwrap();
    }

    fn status(&self, inbox: &str, code: u16, desc: &str, pending_msgs: u64) {
        let mut h = Headers::new();
        h.set_status(code, Some(desc));
        h.insert("Nats-Pending-Messages", pending_msgs.to_string());
        h.insert("Nats-Pending-Bytes", "0");
        self.nc.publish_with_headers(inbox, &h, "").unwrap();
    }
}

fn js(nc: &Connection) -> JetStream {
    nc.jetstream_with(JetStreamOptions::new().api_prefix("fake"))
        .unwrap()
}

fn body(m: &Message) -> serde_json::Value {
    serde_json::from_slice(&m.payload).unwrap()
}

fn fetch_missed_heartbeats(t: Transport) {
    let c = Ctx::new(t);
    let f = fake(&c);
    let nc = c.connect();
    let con = js(&nc).consumer("S", "C").unwrap();
    let start = Instant::now();
    let mut b = con
        .fetch(
            FetchOptions::new(3)
                .expires(Duration::from_secs(5))
                .heartbeat(Duration::from_millis(200)),
        )
        .unwrap();
    let pull = f.next("fake.CONSUMER.MSG.NEXT.S.C");
    let req = body(&pull);
    assert_eq!(req["batch"], 3);
    assert_eq!(req["expires"], 5_000_000_000i64);
    assert_eq!(req["idle_heartbeat"], 200_000_000);
    // Nobody answers: two heartbeats missed end the batch long before expires.
    assert_kind(b.next().unwrap(), ErrorKind::NoHeartbeat);
    assert!(b.next().is_none());
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
}

fn consume_repulls_after_missed_heartbeats(t: Transport) {
    let c = Ctx::new(t);
    let f = fake(&c);
    let nc = c.connect();
    let con = js(&nc).consumer("S", "C").unwrap();
    let mut msgs = con
        .messages(
            ConsumeOptions::new()
                .max_messages(20)
                .expires(Duration::from_secs(10))
                .heartbeat(Duration::from_millis(500)),
        )
        .unwrap();
    // Nothing comes for 2.5 s: not an error for consume, just fresh pulls.
    assert_kind(
        msgs.next_timeout(Duration::from_millis(2500)),
        ErrorKind::Timeout,
    );
    let first = f.next("fake.CONSUMER.MSG.NEXT.S.C");
    let second = f.next("fake.CONSUMER.MSG.NEXT.S.C");
    assert_eq!(body(&first)["batch"], 20);
    // After the missed heartbeats, the pending count starts from zero: a full batch again.
    assert_eq!(body(&second)["batch"], 20);
    assert_eq!(body(&second)["idle_heartbeat"], 500_000_000);
    assert_eq!(first.reply, second.reply, "one inbox for all pulls");
    // Still alive: a message delivered now is read.
    f.deliver_to(second.reply.as_deref().unwrap(), 1);
    let m = msgs.next_timeout(WAIT).unwrap();
    assert_eq!(&m.payload()[..], b"m1");
}

fn consume_pull_accounting(t: Transport) {
    let c = Ctx::new(t);
    let f = fake(&c);
    let nc = c.connect();
    let con = js(&nc).consumer("S", "C").unwrap();
    let mut msgs = con
        .messages(
            ConsumeOptions::new()
                .max_messages(10)
                .expires(Duration::from_secs(30)),
        )
        .unwrap();
    // Start: one pull of 10 (threshold 5).
    let _ = msgs.next_timeout(Duration::from_millis(100));
    let p1 = f.next("fake.CONSUMER.MSG.NEXT.S.C");
    assert_eq!(body(&p1)["batch"], 10);
    let inbox = p1.reply.clone().unwrap();
    for i in 1..=6 {
        f.deliver_to(&inbox, i);
    }
    // After 5 reads, 5 are still to come: at the threshold, the 6th read pulls the
    // difference (5). Pulls happen only inside next(): exactly one so far.
    for i in 1..=6u64 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert_eq!(&m.payload()[..], format!("m{i}").as_bytes());
    }
    let p2 = f.next("fake.CONSUMER.MSG.NEXT.S.C");
    assert_eq!(body(&p2)["batch"], 5, "pulled when 5 were still to come");
    // Asked 15, read 6: 9 to come. A 408 says 4 of the first pull never will: 5 to come,
    // at the threshold, so the read that meets the 408 pulls 5 more before message 7.
    f.status(&inbox, 408, "Request Timeout", 4);
    f.deliver_to(&inbox, 7);
    let m = msgs.next_timeout(WAIT).unwrap();
    assert_eq!(&m.payload()[..], b"m7");
    let p3 = f.next("fake.CONSUMER.MSG.NEXT.S.C");
    assert_eq!(body(&p3)["batch"], 5);
    // 9 to come now: no more pulls.
    assert_kind(
        msgs.next_timeout(Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    assert!(
        f.requests.try_recv().is_err(),
        "no pull above the threshold"
    );
}

/// A recording proxy from `fake.` to the real `$JS.API.` of a JetStream server; pulls are
/// forwarded with their reply (the consumer's inbox), so real messages reach it.
fn proxy(c: &Ctx) -> Fake {
    proxy_with(c, Arc::new(AtomicBool::new(true)))
}

/// [`proxy`], forwarding pulls only while `pulls` is true.
fn proxy_with(c: &Ctx, pulls: Arc<AtomicBool>) -> Fake {
    let nc = c.connect_tcp();
    let sub = nc.subscribe("fake.>").unwrap();
    nc.flush().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let fwd = nc.clone();
    std::thread::spawn(move || {
        for m in sub.iter() {
            let real = format!("$JS.API.{}", &m.subject["fake.".len()..]);
            if m.subject.starts_with("fake.CONSUMER.MSG.NEXT.") {
                if pulls.load(Ordering::SeqCst) {
                    let _ =
                        fwd.publish_with_reply(&real, m.reply.as_deref().unwrap_or(""), &m.payload);
                }
            } else if let Ok(r) = fwd.request_timeout(&real, &m.payload, WAIT) {
                let _ = m.respond(&r.payload);
            }
            let _ = tx.send(m);
        }
    });
    Fake { nc, requests: rx }
}

fn ordered_recreates_on_a_gap(t: Transport) {
    let c = Ctx::jetstream(t);
    let f = proxy(&c);
    let nc = c.connect();
    let real = nc.jetstream();
    real.create_stream(
        natsws::jetstream::StreamConfig::new("S")
            .subjects(["s.>"])
            .storage(natsws::jetstream::StorageType::Memory),
    )
    .unwrap();
    for i in 1..=6 {
        real.publish("s.x", format!("m{i}")).unwrap();
    }
    let other = real
        .create_consumer("S", natsws::jetstream::ConsumerConfig::durable("other"))
        .unwrap();
    let oc = js(&nc)
        .ordered_consumer("S", OrderedConsumerConfig::new())
        .unwrap();
    let create1 = f.next("fake.CONSUMER.CREATE.S.");
    let cfg1 = body(&create1)["config"].clone();
    assert_eq!(cfg1["deliver_policy"], "all");
    assert_eq!(cfg1["ack_policy"], "none");
    assert_eq!(cfg1["mem_storage"], true);
    let name1 = cfg1["name"].as_str().unwrap().to_string();
    assert!(name1.ends_with("_1"), "{name1}");
    // Pulls of 2, the next one only when both came: no pull is outstanding after message 2.
    let mut msgs = oc
        .messages(
            ConsumeOptions::new()
                .max_messages(2)
                .threshold_messages(0)
                .expires(Duration::from_secs(30)),
        )
        .unwrap();
    for want in 1..=2u64 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
    }
    let pull = f.next(&format!("fake.CONSUMER.MSG.NEXT.S.{name1}"));
    let inbox = pull.reply.unwrap();
    // Another consumer's message in the inbox (flushed: it arrives before anything a later
    // pull brings): consumer sequence 1 after 2, a gap.
    other_pull(&f, &other, &inbox);
    let mut seqs = Vec::new();
    for _ in 3..=6 {
        let m = msgs.next_timeout(WAIT).unwrap();
        seqs.push(m.metadata().unwrap().stream_sequence);
    }
    // Never a duplicate, never a gap.
    assert_eq!(seqs, [3, 4, 5, 6]);
    // The gap made a new consumer from stream sequence 3.
    let create2 = f.next("fake.CONSUMER.CREATE.S.");
    let cfg2 = body(&create2)["config"].clone();
    let name2 = cfg2["name"].as_str().unwrap().to_string();
    assert!(name2.ends_with("_2"), "{name2}");
    assert_eq!(cfg2["deliver_policy"], "by_start_sequence");
    assert_eq!(cfg2["opt_start_seq"], 3);
    assert_eq!(msgs.current_name(), Some(name2.as_str()));
    let pull2 = f.next(&format!("fake.CONSUMER.MSG.NEXT.S.{name2}"));
    assert_ne!(pull2.reply.unwrap(), inbox, "a new inbox per consumer");
}

/// Pulls one message of `other` into `inbox` (a delivery the ordered consumer did not ask for).
fn other_pull(f: &Fake, other: &natsws::jetstream::Consumer, inbox: &str) {
    f.nc.publish_with_reply(
        &format!("$JS.API.CONSUMER.MSG.NEXT.S.{}", other.name()),
        inbox,
        "1",
    )
    .unwrap();
    f.nc.flush().unwrap();
}

fn ordered_recreates_on_missed_heartbeats(t: Transport) {
    let c = Ctx::jetstream(t);
    let pulls = Arc::new(AtomicBool::new(true));
    let f = proxy_with(&c, pulls.clone());
    let nc = c.connect();
    let real = nc.jetstream();
    real.create_stream(
        natsws::jetstream::StreamConfig::new("S")
            .subjects(["s.>"])
            .storage(natsws::jetstream::StorageType::Memory),
    )
    .unwrap();
    for i in 1..=2 {
        real.publish("s.x", format!("m{i}")).unwrap();
    }
    let oc = js(&nc)
        .ordered_consumer("S", OrderedConsumerConfig::new())
        .unwrap();
    let name1 = body(&f.next("fake.CONSUMER.CREATE.S."))["config"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let mut msgs = oc
        .messages(
            ConsumeOptions::new()
                .max_messages(2)
                .threshold_messages(0)
                .expires(Duration::from_secs(1))
                .heartbeat(Duration::from_millis(500)),
        )
        .unwrap();
    for want in 1..=2u64 {
        let m = msgs.next_timeout(WAIT).unwrap();
        assert_eq!(m.metadata().unwrap().stream_sequence, want);
    }
    // From now on pulls vanish: the outstanding one expires, later ones get no heartbeats.
    pulls.store(false, Ordering::SeqCst);
    real.publish("s.x", "m3").unwrap();
    assert_kind(
        msgs.next_timeout(Duration::from_secs(3)),
        ErrorKind::Timeout,
    );
    let create2 = f.next("fake.CONSUMER.CREATE.S.");
    let cfg2 = body(&create2)["config"].clone();
    let name2 = cfg2["name"].as_str().unwrap().to_string();
    assert_ne!(name1, name2);
    assert_eq!(cfg2["deliver_policy"], "by_start_sequence");
    assert_eq!(cfg2["opt_start_seq"], 3);
    pulls.store(true, Ordering::SeqCst);
    let m = msgs.next_timeout(WAIT).unwrap();
    assert_eq!(m.metadata().unwrap().stream_sequence, 3);
    assert_eq!(&m.payload()[..], b"m3");
}
