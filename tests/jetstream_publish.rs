//! Publishing to streams, waited and pipelined, against a real nats-server with JetStream,
//! over tcp, ws and wss.
#![cfg(feature = "jetstream")]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use natsws::jetstream::{JetStreamOptions, PublishOptions, StorageType, StreamConfig};
use natsws::test_server::Transport;
use natsws::{ErrorKind, Headers, Message};

each_transport!(
    publish_acks_and_sequences,
    publish_expectations,
    publish_ttl,
    no_stream_fails_after_retries,
    publish_bad_input_sends_nothing,
    publish_async_all_acked,
    publish_async_window_is_bounded,
    publish_async_no_stream,
    publish_async_across_reconnect,
    publish_async_from_many_threads,
    publish_async_acks_taken_in_with_nobody_waiting,
    publish_async_fails_at_once_when_the_connection_ends,
);

fn mem(name: &str, subjects: &[&str]) -> StreamConfig {
    StreamConfig::new(name)
        .subjects(subjects.iter().copied())
        .storage(StorageType::Memory)
}

fn publish_acks_and_sequences(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let s = js.create_stream(mem("P", &["p.>"])).unwrap();
    for i in 1..=20u64 {
        let ack = js.publish("p.a", format!("m{i}")).unwrap();
        assert_eq!(
            (ack.stream.as_str(), ack.sequence, ack.duplicate),
            ("P", i, false)
        );
        assert_eq!(ack.domain, None);
    }
    // Deduplication by Nats-Msg-Id.
    let o = PublishOptions::new().msg_id("id-1");
    let first = js.publish_with("p.b", "x", &o).unwrap();
    assert_eq!((first.sequence, first.duplicate), (21, false));
    let again = js.publish_with("p.b", "y", &o).unwrap();
    assert_eq!((again.sequence, again.duplicate), (21, true));
    // Headers travel (message headers plus option headers).
    let mut h = Headers::new();
    h.insert("X-A", "1");
    let msg = Message::new("p.c", "with headers").with_headers(h);
    let mut extra = Headers::new();
    extra.insert("X-B", "2");
    let ack = js
        .publish_message(&msg, &PublishOptions::new().headers(extra).msg_id("id-2"))
        .unwrap();
    assert_eq!(ack.sequence, 22);
    let stored = s.get_msg(22).unwrap();
    let sh = stored.headers.unwrap();
    assert_eq!(sh.get("X-A"), Some("1"));
    assert_eq!(sh.get("X-B"), Some("2"));
    assert_eq!(sh.get("Nats-Msg-Id"), Some("id-2"));
    assert_eq!(&stored.payload[..], b"with headers");
    let mut s = s;
    assert_eq!(s.info().unwrap().state.messages, 22);
}

fn publish_expectations(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    js.create_stream(mem("E", &["e.>"])).unwrap();
    let e = assert_kind(
        js.publish_with("e.a", "x", &PublishOptions::new().expected_stream("OTHER")),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10060, "{e}");
    js.publish_with("e.a", "x", &PublishOptions::new().expected_stream("E"))
        .unwrap();
    // Last sequence is 1 now.
    let e = assert_kind(
        js.publish_with("e.a", "x", &PublishOptions::new().expected_last_sequence(5)),
        ErrorKind::WrongLastSequence,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10071);
    let ack = js
        .publish_with("e.a", "x", &PublishOptions::new().expected_last_sequence(1))
        .unwrap();
    assert_eq!(ack.sequence, 2);
    // Per subject: 0 means "no message on the subject yet".
    let ack = js
        .publish_with(
            "e.b",
            "x",
            &PublishOptions::new().expected_last_subject_sequence(0),
        )
        .unwrap();
    assert_eq!(ack.sequence, 3);
    assert_kind(
        js.publish_with(
            "e.b",
            "x",
            &PublishOptions::new().expected_last_subject_sequence(0),
        ),
        ErrorKind::WrongLastSequence,
    );
    js.publish_with(
        "e.b",
        "x",
        &PublishOptions::new().expected_last_subject_sequence(3),
    )
    .unwrap();
    // The subject the expectation refers to can be another one (a filter).
    let ack = js
        .publish_with(
            "e.c",
            "x",
            &PublishOptions::new()
                .expected_last_subject_sequence(4)
                .expected_last_subject_sequence_subject("e.b"),
        )
        .unwrap();
    assert_eq!(ack.sequence, 5);
    // Last message id.
    js.publish_with("e.a", "x", &PublishOptions::new().msg_id("last"))
        .unwrap();
    let e = assert_kind(
        js.publish_with(
            "e.a",
            "x",
            &PublishOptions::new().expected_last_msg_id("nope"),
        ),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10070, "{e}");
    js.publish_with(
        "e.a",
        "x",
        &PublishOptions::new().expected_last_msg_id("last"),
    )
    .unwrap();
}

fn publish_ttl(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let s = js
        .create_stream(mem("T", &["t.>"]).allow_msg_ttl(true))
        .unwrap();
    let ack = js
        .publish_with(
            "t.a",
            "x",
            &PublishOptions::new().ttl(Duration::from_secs(60)),
        )
        .unwrap();
    let m = s.get_msg(ack.sequence).unwrap();
    assert_eq!(m.headers.unwrap().get("Nats-TTL"), Some("60s"));
    js.create_stream(mem("NT", &["nt"])).unwrap();
    let e = assert_kind(
        js.publish_with(
            "nt",
            "x",
            &PublishOptions::new().ttl(Duration::from_secs(60)),
        ),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10166, "{e}");
}

fn no_stream_fails_after_retries(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let start = Instant::now();
    let e = assert_kind(js.publish("nobody.here", "x"), ErrorKind::NoResponders);
    let took = start.elapsed();
    // Two resends 250 ms apart, then the error: not the 5 s timeout.
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(e.to_string().contains("nobody.here"), "{e}");
}

fn publish_bad_input_sends_nothing(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    js.create_stream(mem("B", &["b"])).unwrap();
    nc.flush().unwrap();
    let before = nc.stats().out_msgs;
    for subject in ["", "b.*", "b.>", "a..b", "a b"] {
        assert_kind(js.publish(subject, "x"), ErrorKind::InvalidSubject);
        assert_kind(js.publish_async(subject, "x"), ErrorKind::InvalidSubject);
    }
    let big = vec![0u8; nc.max_payload() + 1];
    assert_kind(js.publish("b", &big), ErrorKind::MaxPayload);
    assert_kind(js.publish_async("b", &big), ErrorKind::MaxPayload);
    assert_eq!(js.pending_acks(), 0);
    assert_eq!(nc.stats().out_msgs, before, "nothing may be sent");
    assert_kind(
        nc.jetstream_with(JetStreamOptions::new().publish_async_max_pending(0)),
        ErrorKind::InvalidOption,
    );
}

fn publish_async_all_acked(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let mut s = js.create_stream(mem("A", &["a.>"])).unwrap();
    let n = 10_000u64;
    let mut kept = Vec::new();
    for i in 0..n {
        let f = js.publish_async("a.x", format!("{i}")).unwrap();
        if i % 10 == 0 {
            kept.push(f);
        }
    }
    js.wait_for_acks(WAIT).unwrap();
    assert_eq!(js.pending_acks(), 0);
    let mut seqs = HashSet::new();
    for f in &mut kept {
        let ack = f.wait(WAIT).unwrap();
        assert_eq!(ack.stream, "A");
        assert!(ack.sequence >= 1 && ack.sequence <= n, "{ack:?}");
        assert!(seqs.insert(ack.sequence), "sequence {} twice", ack.sequence);
        // A settled future answers again.
        assert_eq!(f.wait(Duration::ZERO).unwrap(), ack);
        assert_eq!(f.try_get().unwrap().unwrap(), ack);
    }
    assert_eq!(seqs.len() as u64, n / 10);
    let st = s.info().unwrap().state;
    assert_eq!((st.messages, st.last_seq), (n, n));
    // Order is kept without resends: message i has sequence i + 1.
    assert_eq!(&s.get_msg(1).unwrap().payload[..], b"0");
    assert_eq!(
        &s.get_msg(n).unwrap().payload[..],
        format!("{}", n - 1).as_bytes()
    );
}

fn publish_async_window_is_bounded(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc
        .jetstream_with(JetStreamOptions::new().publish_async_max_pending(10))
        .unwrap();
    let mut s = js.create_stream(mem("W", &["w"])).unwrap();
    let mut max_seen = 0;
    let mut last = None;
    for i in 0..2000 {
        let f = js.publish_async("w", format!("{i}")).unwrap();
        max_seen = max_seen.max(js.pending_acks());
        last = Some(f);
    }
    assert!(max_seen <= 10, "{max_seen} acks outstanding");
    assert_eq!(last.unwrap().wait(WAIT).unwrap().sequence, 2000);
    js.wait_for_acks(WAIT).unwrap();
    assert_eq!(s.info().unwrap().state.messages, 2000);
}

fn publish_async_no_stream(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    js.create_stream(mem("N", &["n"])).unwrap();
    let mut lost = js.publish_async("nobody", "x").unwrap();
    let mut ok = js.publish_async("n", "y").unwrap();
    assert_eq!(ok.wait(WAIT).unwrap().sequence, 1);
    let start = Instant::now();
    assert_kind(lost.wait(WAIT), ErrorKind::NoResponders);
    assert!(start.elapsed() < Duration::from_secs(3));
    js.wait_for_acks(WAIT).unwrap();
}

fn publish_async_across_reconnect(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    let mut s = js
        .create_stream(StreamConfig::new("R").subjects(["r"]))
        .unwrap();
    let n = 100_000usize;
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        if i == n / 2 {
            nc.force_reconnect().unwrap();
        }
        futures.push(js.publish_async("r", b"0123456789abcdef").unwrap());
    }
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut seqs = HashSet::new();
    for f in &mut futures {
        match f.wait(WAIT) {
            Ok(ack) => {
                assert!(
                    seqs.insert(ack.sequence),
                    "sequence {} acked twice",
                    ack.sequence
                );
                ok += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Disconnected, "{e}");
                failed += 1;
            }
        }
    }
    eprintln!("{t:?}: {ok} acked, {failed} failed");
    // Every publish has an outcome; nothing is left hanging.
    assert_eq!(ok + failed, n);
    assert_eq!(js.pending_acks(), 0);
    let stored = s.info().unwrap().state.messages as usize;
    // Acked ones are stored; failed ones may or may not be.
    assert!(stored >= ok && stored <= n, "stored {stored}, acked {ok}");
    assert!(ok > 0);
}

fn publish_async_from_many_threads(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc
        .jetstream_with(JetStreamOptions::new().publish_async_max_pending(50))
        .unwrap();
    let mut s = js.create_stream(mem("M", &["m.>"])).unwrap();
    let per = 2000usize;
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let js = js.clone();
            std::thread::spawn(move || {
                let mut futures = Vec::with_capacity(per);
                let mut max_seen = 0;
                for i in 0..per {
                    futures.push(js.publish_async(&format!("m.{k}"), format!("{i}")).unwrap());
                    max_seen = max_seen.max(js.pending_acks());
                    // Some futures are waited for while others publish: every thread takes
                    // turns reading acks for all.
                    if i % 97 == 0 {
                        futures.last_mut().unwrap().wait(WAIT).unwrap();
                    }
                }
                let seqs: Vec<u64> = futures
                    .iter_mut()
                    .map(|f| f.wait(WAIT).unwrap().sequence)
                    .collect();
                (seqs, max_seen)
            })
        })
        .collect();
    let mut all = HashSet::new();
    for th in threads {
        let (seqs, max_seen) = th.join().unwrap();
        assert!(max_seen <= 50, "{max_seen} outstanding");
        for q in seqs {
            assert!(all.insert(q), "sequence {q} twice");
        }
    }
    assert_eq!(all, (1..=4 * per as u64).collect::<HashSet<u64>>());
    assert_eq!(js.pending_acks(), 0);
    assert_eq!(s.info().unwrap().state.messages, 4 * per as u64);
}

/// Polls `js.pending_acks()` (no wait, no publish, nothing that would read acks) until it is 0,
/// at most `bound`; returns how long that took.
#[track_caller]
fn pending_drains(js: &natsws::jetstream::JetStream, bound: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let n = js.pending_acks();
        if n == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < bound,
            "{n} acks still outstanding after {bound:?} with nobody waiting"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn publish_async_acks_taken_in_with_nobody_waiting(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc
        .jetstream_with(JetStreamOptions::new().publish_async_max_pending(100))
        .unwrap();
    let mut s = js.create_stream(mem("Q", &["q"])).unwrap();
    let n = 500u64;
    let mut kept = Vec::new();
    for i in 0..n {
        // A window smaller than n: the call waits for slots, freed by the reader thread.
        let f = js.publish_async("q", format!("{i}")).unwrap();
        if i % 2 == 0 {
            kept.push(f); // the others are dropped: their slots free all the same
        }
    }
    // From here on nobody waits or publishes: the last window's acks come in by themselves.
    pending_drains(&js, WAIT);
    for (k, f) in kept.iter_mut().enumerate() {
        let ack = f
            .try_get()
            .expect("settled without a wait")
            .unwrap_or_else(|e| panic!("future {k}: {e}"));
        // Order is kept without resends: message i has sequence i + 1.
        assert_eq!((ack.stream.as_str(), ack.sequence), ("Q", 2 * k as u64 + 1));
    }
    assert_eq!(s.info().unwrap().state.messages, n);
}

fn publish_async_fails_at_once_when_the_connection_ends(t: Transport) {
    let mut c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    js.create_stream(mem("K", &["k"])).unwrap();
    // A subscriber that never answers: a publish to its subject gets neither an ack nor
    // no-responders, so its ack stays outstanding.
    let _silent = nc.subscribe("silent").unwrap();
    nc.flush().unwrap();
    let mut stored = js.publish_async("k", "stored").unwrap();
    assert_eq!(stored.wait(WAIT).unwrap().sequence, 1);

    // Closed: every outstanding ack fails with Closed before close() returns.
    let nc2 = c.connect();
    let js2 = nc2.jetstream();
    let mut closed: Vec<_> = (0..10)
        .map(|_| js2.publish_async("silent", "x").unwrap())
        .collect();
    nc2.flush().unwrap();
    assert_eq!(js2.pending_acks(), 10);
    nc2.close().unwrap();
    assert_eq!(js2.pending_acks(), 0);
    for f in &mut closed {
        assert_kind(f.try_get().expect("settled by close"), ErrorKind::Closed);
    }

    // Lost: the server dies with acks outstanding; they fail with Disconnected as soon as
    // the connection notices, with nobody waiting (not after the 5 s timeout).
    let mut lost: Vec<_> = (0..20)
        .map(|_| js.publish_async("silent", "x").unwrap())
        .collect();
    nc.flush().unwrap();
    assert_eq!(js.pending_acks(), 20);
    c.server.stop();
    let took = pending_drains(&js, Duration::from_secs(2));
    eprintln!("{t:?}: outstanding acks failed {took:?} after the kill");
    for f in &mut lost {
        assert_kind(f.try_get().expect("settled"), ErrorKind::Disconnected);
        assert_kind(f.wait(Duration::ZERO), ErrorKind::Disconnected);
    }
    // What was acked stays acked.
    assert_eq!(stored.wait(Duration::ZERO).unwrap().sequence, 1);
}
