//! JetStream context, streams and consumers management against a real nats-server with
//! JetStream, over tcp, ws and wss.
#![cfg(feature = "jetstream")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use natsws::jetstream::{
    AckPolicy, ConsumerConfig, DeliverPolicy, FetchOptions, InfoOptions, JetStreamOptions,
    PurgeOptions, RetentionPolicy, StorageType, StreamConfig,
};
use natsws::test_server::Transport;
use natsws::{ErrorKind, Headers};

each_transport!(
    account_info_and_options,
    not_enabled_is_reported_quickly,
    stream_lifecycle,
    stream_list_pages,
    purge_variants,
    get_and_delete_messages,
    direct_get,
    info_details,
    consumer_lifecycle,
    consumer_pause_and_resume,
    bad_input_sends_nothing,
    malformed_api_reply_is_a_protocol_error,
);

fn mem(name: &str, subjects: &[&str]) -> StreamConfig {
    StreamConfig::new(name)
        .subjects(subjects.iter().copied())
        .storage(StorageType::Memory)
}

/// Stores `payload` on `subject` through a core request (the stream answers with a PubAck);
/// returns the stream sequence.
fn store(nc: &natsws::Connection, subject: &str, payload: &str) -> u64 {
    let m = nc.request_timeout(subject, payload, WAIT).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

fn account_info_and_options(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    assert_eq!(js.api_prefix(), "$JS.API.");
    assert_eq!(js.timeout(), Duration::from_secs(5));
    let info = js.account_info().unwrap();
    assert!(info.api.level >= 1, "{info:?}");
    assert_eq!(info.streams, 0);
    js.create_stream(mem("A", &["a.>"])).unwrap();
    assert_eq!(js.account_info().unwrap().streams, 1);

    let both = nc.jetstream_with(JetStreamOptions::new().api_prefix("x").domain("d"));
    assert_kind(both, ErrorKind::InvalidOption);
    assert_kind(
        nc.jetstream_with(JetStreamOptions::new().api_prefix("")),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        nc.jetstream_with(JetStreamOptions::new().domain("")),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        nc.jetstream_with(JetStreamOptions::new().api_prefix("a b")),
        ErrorKind::InvalidOption,
    );
    let d = nc
        .jetstream_with(JetStreamOptions::new().domain("hub"))
        .unwrap();
    assert_eq!(d.api_prefix(), "$JS.hub.API.");
    let p = nc
        .jetstream_with(
            JetStreamOptions::new()
                .api_prefix("$JS.API")
                .timeout(Duration::from_secs(2)),
        )
        .unwrap();
    assert_eq!(p.api_prefix(), "$JS.API.");
    assert_eq!(p.timeout(), Duration::from_secs(2));
    // The explicit default prefix reaches the same server.
    assert_eq!(p.account_info().unwrap().streams, 1);
    // A domain nobody serves: nobody answers.
    assert_kind(d.account_info(), ErrorKind::JetStreamNotEnabled);
}

fn not_enabled_is_reported_quickly(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let start = Instant::now();
    let e = assert_kind(js.account_info(), ErrorKind::JetStreamNotEnabled);
    // Not the 5 s API timeout: the no-responders status answers at once.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(e.to_string().contains("JetStream"), "{e}");
    assert_kind(
        js.create_stream(mem("S", &["s"])),
        ErrorKind::JetStreamNotEnabled,
    );
}

fn stream_lifecycle(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let cfg = mem("ORDERS", &["orders.>"]).description("the orders");
    let s = js.create_stream(cfg.clone()).unwrap();
    assert_eq!(s.name(), "ORDERS");
    let info = s.cached_info();
    assert_eq!(info.config.subjects, ["orders.>"]);
    assert_eq!(info.config.storage, StorageType::Memory);
    assert_eq!(info.config.description, "the orders");
    assert_eq!(info.config.max_msgs, -1);
    assert_eq!(info.state.messages, 0);
    assert!(info.created.is_some());

    // Same config again: idempotent.
    js.create_stream(cfg.clone()).unwrap();
    // A different config under the same name: 10058.
    let e = assert_kind(
        js.create_stream(cfg.clone().max_msgs(5)),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10058, "{e}");

    let mut s = js.update_stream(cfg.clone().max_msgs(5)).unwrap();
    assert_eq!(s.cached_info().config.max_msgs, 5);
    assert_eq!(s.info().unwrap().config.max_msgs, 5);

    let missing = mem("NOPE", &["nope"]);
    let e = assert_kind(js.update_stream(missing.clone()), ErrorKind::StreamNotFound);
    assert_eq!(e.api_error().unwrap().err_code, 10059);
    assert_kind(js.stream("NOPE"), ErrorKind::StreamNotFound);
    let s2 = js.create_or_update_stream(missing.clone()).unwrap();
    assert_eq!(s2.cached_info().config.max_msgs, -1);
    let s2 = js.create_or_update_stream(missing.max_msgs(7)).unwrap();
    assert_eq!(s2.cached_info().config.max_msgs, 7);

    // Overlapping subjects: refused.
    let e = assert_kind(
        js.create_stream(mem("OVER", &["orders.x"])),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10065, "{e}");

    assert_eq!(
        js.stream("ORDERS").unwrap().cached_info().config.max_msgs,
        5
    );
    js.delete_stream("ORDERS").unwrap();
    assert_kind(js.stream("ORDERS"), ErrorKind::StreamNotFound);
    assert_kind(js.delete_stream("ORDERS"), ErrorKind::StreamNotFound);
    let mut workq = mem("WQ", &["wq"]).retention(RetentionPolicy::WorkQueue);
    workq.max_age = Duration::from_secs(3600);
    let wq = js.create_stream(workq).unwrap();
    assert_eq!(
        wq.cached_info().config.retention,
        RetentionPolicy::WorkQueue
    );
    assert_eq!(wq.cached_info().config.max_age, Duration::from_secs(3600));
}

fn stream_list_pages(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    // More than one page of STREAM.LIST (256 per page).
    let n = 260;
    for i in 0..n {
        js.create_stream(mem(&format!("S{i:03}"), &[&format!("s.{i}")]))
            .unwrap();
    }
    let mut names: Vec<String> = js.stream_names().map(Result::unwrap).collect();
    names.sort();
    let want: Vec<String> = (0..n).map(|i| format!("S{i:03}")).collect();
    assert_eq!(names, want);
    let mut listed: Vec<String> = js.streams().map(|i| i.unwrap().config.name).collect();
    assert_eq!(listed.len(), n);
    listed.sort();
    assert_eq!(listed, want);
    let by_subject: Vec<String> = js
        .stream_names_by_subject("s.17")
        .map(Result::unwrap)
        .collect();
    assert_eq!(by_subject, ["S017"]);
    assert_eq!(js.stream_names_by_subject("zzz").count(), 0);
}

fn purge_variants(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let mut s = js.create_stream(mem("P", &["p.*"])).unwrap();
    for i in 0..10 {
        store(&nc, if i % 2 == 0 { "p.even" } else { "p.odd" }, "x");
    }
    assert_eq!(s.purge(PurgeOptions::new().filter("p.odd")).unwrap(), 5);
    assert_eq!(s.info().unwrap().state.messages, 5);
    // Below sequence 5: the evens 1 and 3.
    assert_eq!(s.purge(PurgeOptions::new().sequence(5)).unwrap(), 2);
    let st = s.info().unwrap().state;
    assert_eq!((st.messages, st.first_seq), (3, 5));
    assert_eq!(s.purge(PurgeOptions::new().keep(1)).unwrap(), 2);
    let st = s.info().unwrap().state;
    assert_eq!((st.messages, st.first_seq, st.last_seq), (1, 9, 10));
    assert_kind(
        s.purge(PurgeOptions::new().sequence(3).keep(1)),
        ErrorKind::InvalidOption,
    );
    assert_eq!(s.purge(PurgeOptions::new()).unwrap(), 1);
    assert_eq!(s.info().unwrap().state.messages, 0);
}

fn get_and_delete_messages(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let s = js.create_stream(mem("G", &["g.>"])).unwrap();
    let mut h = Headers::new();
    h.insert("X-Id", "42");
    h.append("X-Multi", "a");
    h.append("X-Multi", "b");
    nc.request_with_headers("g.a", &h, "first").unwrap();
    store(&nc, "g.b", "second");
    store(&nc, "g.a", "third");

    let m = s.get_msg(1).unwrap();
    assert_eq!((m.subject.as_str(), m.sequence), ("g.a", 1));
    assert_eq!(&m.payload[..], b"first");
    let mh = m.headers.unwrap();
    assert_eq!(mh.get("X-Id"), Some("42"));
    assert_eq!(mh.get_all("X-Multi").collect::<Vec<_>>(), ["a", "b"]);
    assert!(m.time.is_some());
    let m = s.get_msg(2).unwrap();
    assert!(m.headers.is_none());
    let last = s.get_last_msg("g.a").unwrap();
    assert_eq!((last.sequence, &last.payload[..]), (3, &b"third"[..]));
    let e = assert_kind(s.get_msg(99), ErrorKind::MessageNotFound);
    assert_eq!(e.api_error().unwrap().err_code, 10037);
    assert_kind(s.get_last_msg("g.none"), ErrorKind::MessageNotFound);

    s.delete_msg(2).unwrap();
    assert_kind(s.get_msg(2), ErrorKind::MessageNotFound);
    assert_kind(s.delete_msg(2), ErrorKind::JetStream);
    s.erase_msg(1).unwrap();
    assert_kind(s.get_msg(1), ErrorKind::MessageNotFound);
    assert_eq!(s.get_msg(3).unwrap().sequence, 3);
}

fn direct_get(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let d = js
        .create_stream(mem("D", &["d.>"]).allow_direct(true))
        .unwrap();
    let mut h = Headers::new();
    h.insert("X-Id", "7");
    nc.request_with_headers("d.a", &h, "one").unwrap();
    store(&nc, "d.b", "two");
    store(&nc, "d.a", "three");
    let m = d.direct_get(2).unwrap();
    assert_eq!((m.subject.as_str(), m.sequence), ("d.b", 2));
    assert_eq!(&m.payload[..], b"two");
    assert!(m.time.is_some());
    let m = d.direct_get(1).unwrap();
    assert_eq!(m.headers.as_ref().unwrap().get("X-Id"), Some("7"));
    assert_eq!(m.headers.as_ref().unwrap().get("Nats-Stream"), Some("D"));
    let m = d.direct_get_last("d.a").unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (3, &b"three"[..]));
    assert_kind(d.direct_get(99), ErrorKind::MessageNotFound);
    assert_kind(d.direct_get_last("d.zz"), ErrorKind::MessageNotFound);
    assert_kind(d.direct_get_last("d.*"), ErrorKind::InvalidSubject);

    // Without allow_direct nobody answers direct gets: an error, not a hang.
    let nd = js.create_stream(mem("ND", &["nd"])).unwrap();
    store(&nc, "nd", "x");
    let start = Instant::now();
    assert_kind(nd.direct_get(1), ErrorKind::JetStream);
    assert!(start.elapsed() < Duration::from_secs(4));
}

fn info_details(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let mut s = js.create_stream(mem("I", &["i.>"])).unwrap();
    for i in 0..6 {
        store(&nc, &format!("i.{}", i % 3), "x");
    }
    s.delete_msg(2).unwrap();
    s.delete_msg(4).unwrap();
    let plain = s.info().unwrap();
    assert!(plain.state.deleted.is_empty());
    assert!(plain.state.subjects.is_empty());
    assert_eq!(plain.state.num_deleted, 2);
    assert_eq!(plain.state.num_subjects, 3);
    let d = s
        .info_with(InfoOptions::new().deleted_details(true))
        .unwrap();
    let mut deleted = d.state.deleted.clone();
    deleted.sort();
    assert_eq!(deleted, [2, 4]);
    let subj = s
        .info_with(InfoOptions::new().subjects_filter(">"))
        .unwrap();
    let mut subjects: Vec<(String, u64)> = subj.state.subjects.into_iter().collect();
    subjects.sort();
    assert_eq!(
        subjects,
        // Sequences 1..=6 on i.0, i.1, i.2, i.0, i.1, i.2; 2 (i.1) and 4 (i.0) deleted.
        [
            ("i.0".to_string(), 1),
            ("i.1".to_string(), 1),
            ("i.2".to_string(), 2)
        ]
    );
    let one = s
        .info_with(InfoOptions::new().subjects_filter("i.0"))
        .unwrap();
    assert_eq!(one.state.subjects.len(), 1);
}

fn consumer_lifecycle(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let s = js.create_stream(mem("C", &["c.>"])).unwrap();
    let cfg = ConsumerConfig::durable("worker")
        .ack_wait(Duration::from_secs(10))
        .filter_subject("c.a");
    let mut con = s.create_consumer(cfg.clone()).unwrap();
    assert_eq!(con.name(), "worker");
    assert_eq!(con.stream_name(), "C");
    let ci = con.cached_info();
    assert_eq!(ci.config.ack_policy, AckPolicy::Explicit);
    assert_eq!(ci.config.ack_wait, Duration::from_secs(10));
    assert_eq!(ci.config.filter_subject, "c.a");
    assert_eq!(ci.config.max_ack_pending, 1000);
    // Identical: idempotent; different: 10148.
    s.create_consumer(cfg.clone()).unwrap();
    let e = assert_kind(
        s.create_consumer(cfg.clone().ack_wait(Duration::from_secs(11))),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10148, "{e}");
    let up = s
        .update_consumer(cfg.clone().ack_wait(Duration::from_secs(11)))
        .unwrap();
    assert_eq!(up.cached_info().config.ack_wait, Duration::from_secs(11));
    let e = assert_kind(
        s.update_consumer(ConsumerConfig::durable("ghost")),
        ErrorKind::JetStream,
    );
    assert_eq!(e.api_error().unwrap().err_code, 10149, "{e}");
    let ghost = s
        .create_or_update_consumer(ConsumerConfig::durable("ghost").max_deliver(3))
        .unwrap();
    assert_eq!(ghost.cached_info().config.max_deliver, 3);
    let again = s
        .create_or_update_consumer(ConsumerConfig::durable("ghost").max_deliver(4))
        .unwrap();
    assert_eq!(again.cached_info().config.max_deliver, 4);

    store(&nc, "c.a", "1");
    store(&nc, "c.b", "2");
    store(&nc, "c.a", "3");
    // The server counts a stored message into its consumers' pending asynchronously, a moment
    // after the publish ack: ask until it has (bounded).
    let deadline = Instant::now() + WAIT;
    let mut pending = con.info().unwrap().num_pending;
    while pending != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        pending = con.info().unwrap().num_pending;
    }
    assert_eq!(pending, 2);

    let eph = s
        .create_consumer(
            ConsumerConfig::ephemeral()
                .ack_policy(AckPolicy::None)
                .deliver_policy(DeliverPolicy::Last),
        )
        .unwrap();
    assert!(!eph.name().is_empty());
    let ei = eph.cached_info();
    assert_eq!(ei.config.durable_name, "");
    assert_eq!(ei.config.inactive_threshold, Duration::from_secs(5));
    assert_eq!(ei.num_pending, 1);

    let mut names: Vec<String> = s.consumer_names().map(Result::unwrap).collect();
    names.sort();
    let mut want = vec![
        "ghost".to_string(),
        "worker".to_string(),
        eph.name().to_string(),
    ];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(s.consumers().map(Result::unwrap).count(), 3);
    assert_eq!(js.consumer("C", "worker").unwrap().name(), "worker");

    s.delete_consumer("ghost").unwrap();
    let e = assert_kind(s.consumer("ghost"), ErrorKind::ConsumerNotFound);
    assert_eq!(e.api_error().unwrap().err_code, 10014);
    assert_kind(s.delete_consumer("ghost"), ErrorKind::ConsumerNotFound);
    assert_kind(js.consumer("NOSTREAM", "worker"), ErrorKind::StreamNotFound);
    assert_kind(
        js.create_consumer("NOSTREAM", ConsumerConfig::durable("x")),
        ErrorKind::StreamNotFound,
    );
}

fn consumer_pause_and_resume(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    js.create_stream(mem("PA", &["pa"])).unwrap();
    store(&nc, "pa", "x");
    let mut con = js
        .create_consumer("PA", ConsumerConfig::durable("p"))
        .unwrap();
    let until = std::time::SystemTime::now() + Duration::from_secs(3600);
    let p = con.pause(until).unwrap();
    assert!(p.paused);
    let got = p.pause_until.unwrap();
    let diff = match got.duration_since(until) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(diff < Duration::from_millis(1), "{got:?} vs {until:?}");
    assert!(con.info().unwrap().paused);
    let none = con
        .fetch(FetchOptions::new(1).expires(Duration::from_millis(300)))
        .unwrap()
        .count();
    assert_eq!(none, 0, "a paused consumer delivers nothing");
    let r = con.resume().unwrap();
    assert!(!r.paused);
    let m = con.next(WAIT).unwrap();
    assert_eq!(&m.payload()[..], b"x");
    assert_kind(
        js.pause_consumer("PA", "ghost", until),
        ErrorKind::ConsumerNotFound,
    );
}

fn bad_input_sends_nothing(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let s = js.create_stream(mem("B", &["b"])).unwrap();
    nc.flush().unwrap();
    let before = nc.stats().out_msgs;
    for name in ["", "a.b", "a b", "a*", "a>", "x/y", "x\\y"] {
        assert_kind(js.create_stream(mem(name, &["zz"])), ErrorKind::InvalidName);
        assert_kind(js.stream(name), ErrorKind::InvalidName);
        assert_kind(js.delete_stream(name), ErrorKind::InvalidName);
        if !name.is_empty() {
            assert_kind(
                s.create_consumer(ConsumerConfig::durable(name)),
                ErrorKind::InvalidName,
            );
        }
        assert_kind(s.consumer(name), ErrorKind::InvalidName);
    }
    let mut both = ConsumerConfig::durable("a");
    both.name = "b".into();
    assert_kind(s.create_consumer(both), ErrorKind::InvalidOption);
    assert_kind(
        s.update_consumer(ConsumerConfig::ephemeral()),
        ErrorKind::InvalidName,
    );
    assert_eq!(nc.stats().out_msgs, before, "nothing may be sent");
}

fn malformed_api_reply_is_a_protocol_error(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let fake = responder(&nc, "fake.api.>", |m| {
        let body: &[u8] = match m.subject.as_str() {
            "fake.api.INFO" => b"this is not json",
            "fake.api.STREAM.INFO.S" => br#"{"config":{"name":5}}"#,
            _ => br#"{"error":"no"}"#,
        };
        m.respond(body).unwrap();
    });
    let js = nc
        .jetstream_with(JetStreamOptions::new().api_prefix("fake.api"))
        .unwrap();
    assert_kind(js.account_info(), ErrorKind::Protocol);
    assert_kind(js.stream("S"), ErrorKind::Protocol);
    assert_kind(js.delete_stream("S"), ErrorKind::Protocol);
    assert_eq!(js.stream_names().filter(|r| r.is_err()).count(), 1);
    nc.close().unwrap();
    fake.join().unwrap();
}
