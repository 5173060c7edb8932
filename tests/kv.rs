//! Key-Value buckets against a real nats-server with JetStream, over tcp, ws and wss: bucket
//! management, every entry operation with exact revisions, watch with its marker, bad input,
//! TTLs and limit markers, JetStream domains, a watch across a server restart.
#![cfg(feature = "kv")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use natsws::jetstream::{DiscardPolicy, JetStreamOptions, StorageType};
use natsws::kv::{
    Config, DeleteOptions, Entry, KeyValue, Operation, PurgeOptions, WatchEvent, WatchOptions,
    Watcher,
};
use natsws::test_server::{NatsServer, Transport};
use natsws::ErrorKind;

each_transport!(
    kv_buckets,
    kv_entries,
    kv_create_update_delete_purge,
    kv_keys_and_history,
    kv_watch_marker_and_options,
    kv_bad_input_sends_nothing,
    kv_ttl_and_limit_markers,
    kv_domain,
    kv_watch_across_server_restart,
);

fn mem(bucket: &str) -> Config {
    Config::new(bucket).storage(StorageType::Memory)
}

/// The next event; panics on timeout or error.
#[track_caller]
fn ev(w: &mut Watcher) -> WatchEvent {
    w.next_timeout(WAIT)
        .unwrap_or_else(|e| panic!("watch: {e}"))
}

#[track_caller]
fn entry(w: &mut Watcher) -> Entry {
    match ev(w) {
        WatchEvent::Entry(e) => e,
        other => panic!("wanted an entry, got {other:?}"),
    }
}

/// (key, value, revision, delta, operation)
fn sum(e: &Entry) -> (String, String, u64, u64, Operation) {
    (
        e.key.clone(),
        String::from_utf8_lossy(&e.value).into_owned(),
        e.revision,
        e.delta,
        e.operation,
    )
}

fn x(
    k: &str,
    v: &str,
    rev: u64,
    delta: u64,
    op: Operation,
) -> (String, String, u64, u64, Operation) {
    (k.to_string(), v.to_string(), rev, delta, op)
}

fn messages(kv: &KeyValue) -> u64 {
    kv.status().unwrap().values()
}

fn kv_buckets(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let cfg = mem("cfg")
        .history(5)
        .ttl(Duration::from_secs(3600))
        .description("d");
    let kv = js.create_key_value(cfg.clone()).unwrap();
    assert_eq!(kv.bucket(), "cfg");
    // The stream as the server keeps it (JETSTREAM.md §2).
    let mut s = js.stream("KV_cfg").unwrap();
    let sc = s.info().unwrap().config;
    assert_eq!(sc.subjects, vec!["$KV.cfg.>".to_string()]);
    assert_eq!(sc.max_msgs_per_subject, 5);
    assert_eq!(sc.discard, DiscardPolicy::New);
    assert!(sc.allow_rollup_hdrs && sc.deny_delete && sc.allow_direct);
    assert_eq!(sc.max_age, Duration::from_secs(3600));
    assert_eq!(sc.duplicate_window, Duration::from_secs(120));
    assert_eq!(sc.description, "d");
    // Same config again: fine; another: BucketExists.
    js.create_key_value(cfg.clone()).unwrap();
    assert_kind(
        js.create_key_value(cfg.clone().history(2)),
        ErrorKind::BucketExists,
    );
    // Update, create-or-update.
    js.update_key_value(cfg.clone().history(7)).unwrap();
    assert_eq!(kv.status().unwrap().history(), 7);
    assert_kind(js.update_key_value(mem("nope")), ErrorKind::BucketNotFound);
    js.create_or_update_key_value(mem("other").history(3))
        .unwrap();
    js.create_or_update_key_value(mem("other").history(4))
        .unwrap();
    assert_eq!(
        js.key_value("other").unwrap().status().unwrap().history(),
        4
    );
    assert_kind(js.key_value("nope"), ErrorKind::BucketNotFound);
    // A stream that is not a bucket is not listed.
    js.create_stream(
        natsws::jetstream::StreamConfig::new("PLAIN")
            .subjects(["plain.>"])
            .storage(StorageType::Memory),
    )
    .unwrap();
    let mut names: Vec<String> = js.key_value_store_names().map(|r| r.unwrap()).collect();
    names.sort();
    assert_eq!(names, ["cfg", "other"]);
    // Status.
    kv.put("a", "12345").unwrap();
    kv.put("a", "6").unwrap();
    let st = kv.status().unwrap();
    assert_eq!(st.bucket(), "cfg");
    assert_eq!(st.values(), 2);
    assert_eq!(st.history(), 7);
    assert_eq!(st.ttl(), Duration::from_secs(3600));
    assert!(st.bytes() > 6);
    assert_eq!(st.backing_store(), "JetStream");
    assert!(!st.is_compressed());
    assert_eq!(st.limit_marker_ttl(), None);
    let mut list: Vec<(String, u64)> = js
        .key_value_stores()
        .map(|r| r.unwrap())
        .map(|s| (s.bucket().to_string(), s.values()))
        .collect();
    list.sort();
    assert_eq!(list, [("cfg".to_string(), 2), ("other".to_string(), 0)]);
    // Compression shows in status (file storage).
    let z = js
        .create_key_value(Config::new("z").compression(true))
        .unwrap();
    assert!(z.status().unwrap().is_compressed());
    // Delete.
    js.delete_key_value("other").unwrap();
    assert_kind(js.key_value("other"), ErrorKind::BucketNotFound);
    assert_kind(js.delete_key_value("other"), ErrorKind::BucketNotFound);
}

fn kv_entries(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let kv = js.create_key_value(mem("e").history(3)).unwrap();
    assert_eq!(kv.put("a", "1").unwrap(), 1);
    assert_eq!(kv.put("b.c", "2").unwrap(), 2);
    assert_eq!(kv.put("a", "3").unwrap(), 3);
    let e = kv.get("a").unwrap();
    assert_eq!(sum(&e), x("a", "3", 3, 0, Operation::Put));
    assert_eq!(e.bucket, "e");
    assert!(e.created.elapsed().unwrap() < Duration::from_secs(60));
    assert_eq!(
        sum(&kv.get("b.c").unwrap()),
        x("b.c", "2", 2, 0, Operation::Put)
    );
    assert_kind(kv.get("missing"), ErrorKind::KeyNotFound);
    // A revision: the key's own, not another's.
    assert_eq!(
        sum(&kv.get_revision("a", 1).unwrap()),
        x("a", "1", 1, 0, Operation::Put)
    );
    assert_kind(kv.get_revision("a", 2), ErrorKind::KeyNotFound);
    assert_kind(kv.get_revision("a", 99), ErrorKind::KeyNotFound);
    // Empty values are values.
    assert_eq!(kv.put("empty", "").unwrap(), 4);
    assert_eq!(
        sum(&kv.get("empty").unwrap()),
        x("empty", "", 4, 0, Operation::Put)
    );
    // History limit 3: the oldest goes.
    kv.put("a", "5").unwrap();
    kv.put("a", "6").unwrap();
    assert_kind(kv.get_revision("a", 1), ErrorKind::KeyNotFound);
    assert_eq!(&kv.get_revision("a", 3).unwrap().value[..], b"3");
    // A second client reads the same.
    let nc2 = c.connect_tcp();
    let kv2 = nc2.jetstream().key_value("e").unwrap();
    assert_eq!(
        sum(&kv2.get("a").unwrap()),
        x("a", "6", 6, 0, Operation::Put)
    );
}

fn kv_create_update_delete_purge(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let kv = js.create_key_value(mem("c").history(10)).unwrap();
    assert_eq!(kv.create("k", "v1").unwrap(), 1);
    assert_kind(kv.create("k", "again"), ErrorKind::KeyExists);
    // Update at the right revision, then at a stale one.
    assert_eq!(kv.update("k", "v2", 1).unwrap(), 2);
    let e = assert_kind(kv.update("k", "v3", 1), ErrorKind::WrongLastSequence);
    assert!(matches!(
        e.api_error().map(|a| a.err_code),
        Some(10071) | Some(10164)
    ));
    // Delete with a stale revision fails; with the right one works.
    assert_kind(
        kv.delete_with("k", DeleteOptions::new().revision(1)),
        ErrorKind::WrongLastSequence,
    );
    assert_eq!(
        kv.delete_with("k", DeleteOptions::new().revision(2))
            .unwrap(),
        3
    );
    assert_kind(kv.get("k"), ErrorKind::KeyNotFound);
    assert_kind(kv.get_revision("k", 3), ErrorKind::KeyNotFound);
    // History keeps the value and the marker.
    let h: Vec<_> = kv.history("k").unwrap().iter().map(sum).collect();
    assert_eq!(
        h,
        [
            x("k", "v1", 1, 0, Operation::Put),
            x("k", "v2", 2, 0, Operation::Put),
            x("k", "", 3, 0, Operation::Delete)
        ]
        .iter()
        .enumerate()
        .map(|(i, x)| (x.0.clone(), x.1.clone(), x.2, 2 - i as u64, x.4))
        .collect::<Vec<_>>()
    );
    // Create over a deleted key works.
    assert_eq!(kv.create("k", "v4").unwrap(), 4);
    // Update at 0 is refused (revisions start at 1).
    assert_kind(kv.update("k", "x", 0), ErrorKind::InvalidOption);
    // Purge: one marker replaces the whole history.
    kv.put("other", "o").unwrap();
    assert_eq!(kv.purge("k").unwrap(), 6);
    let h: Vec<_> = kv.history("k").unwrap().iter().map(sum).collect();
    assert_eq!(h, [x("k", "", 6, 0, Operation::Purge)]);
    assert_kind(kv.get("k"), ErrorKind::KeyNotFound);
    assert_eq!(&kv.get("other").unwrap().value[..], b"o");
    // Create over a purged key works.
    assert_eq!(kv.create("k", "v7").unwrap(), 7);
    // Purge at a revision.
    assert_kind(
        kv.purge_with("k", PurgeOptions::new().revision(6)),
        ErrorKind::WrongLastSequence,
    );
    assert_eq!(
        kv.purge_with("k", PurgeOptions::new().revision(7)).unwrap(),
        8
    );
    // Purge deletes: markers (all ages) and what is behind them go.
    kv.put("d", "1").unwrap();
    kv.delete("d").unwrap();
    assert_eq!(kv.history("d").unwrap().len(), 2);
    kv.purge_deletes_older_than(Duration::ZERO).unwrap();
    assert_kind(kv.history("d"), ErrorKind::KeyNotFound);
    assert_kind(kv.history("k"), ErrorKind::KeyNotFound);
    assert_eq!(kv.keys().unwrap(), ["other"]);
    assert_eq!(messages(&kv), 1);
    // Recent markers stay, alone, with the default age.
    kv.put("r", "1").unwrap();
    kv.put("r", "2").unwrap();
    kv.delete("r").unwrap();
    kv.purge_deletes().unwrap();
    let h: Vec<_> = kv
        .history("r")
        .unwrap()
        .iter()
        .map(|e| e.operation)
        .collect();
    assert_eq!(h, [Operation::Delete]);
}

fn kv_keys_and_history(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let kv = js.create_key_value(mem("k").history(5)).unwrap();
    assert_eq!(kv.keys().unwrap(), Vec::<String>::new());
    assert_eq!(kv.list_keys().unwrap().count(), 0);
    assert_kind(kv.history("x"), ErrorKind::KeyNotFound);
    for k in ["b", "a", "dev.1.mode", "dev.2.mode", "dev.1.name", "a"] {
        kv.put(k, "v").unwrap();
    }
    kv.put("gone", "v").unwrap();
    kv.delete("gone").unwrap();
    kv.put("p", "v").unwrap();
    kv.purge("p").unwrap();
    assert_eq!(
        kv.keys().unwrap(),
        ["a", "b", "dev.1.mode", "dev.1.name", "dev.2.mode"]
    );
    assert_eq!(
        kv.keys_filtered(["dev.*.mode"]).unwrap(),
        ["dev.1.mode", "dev.2.mode"]
    );
    assert_eq!(
        kv.keys_filtered(["dev.1.>", "b"]).unwrap(),
        ["b", "dev.1.mode", "dev.1.name"]
    );
    assert_eq!(kv.keys_filtered(["none.>"]).unwrap(), Vec::<String>::new());
    // The streaming form: stream order, deletes and purges left out.
    let listed: Vec<String> = kv.list_keys().unwrap().map(|k| k.unwrap()).collect();
    assert_eq!(listed, ["b", "dev.1.mode", "dev.2.mode", "dev.1.name", "a"]);
    let h: Vec<u64> = kv
        .history("a")
        .unwrap()
        .iter()
        .map(|e| e.revision)
        .collect();
    assert_eq!(h, [2, 6]);
    // Many keys (more than one pull).
    let kv = js.create_key_value(mem("many")).unwrap();
    for i in 0..1200 {
        js.publish_async(&format!("$KV.many.k{i:04}"), "v").unwrap();
    }
    js.wait_for_acks(WAIT).unwrap();
    let keys = kv.keys().unwrap();
    assert_eq!(keys.len(), 1200);
    assert_eq!((keys[0].as_str(), keys[1199].as_str()), ("k0000", "k1199"));
}

fn kv_watch_marker_and_options(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let kv = js.create_key_value(mem("w").history(5)).unwrap();
    // Empty bucket: the marker at once, then changes.
    let mut w = kv.watch_all().unwrap();
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    assert!(w.initial_done());
    kv.put("a", "1").unwrap();
    assert_eq!(sum(&entry(&mut w)), x("a", "1", 1, 0, Operation::Put));
    kv.put("b", "2").unwrap();
    kv.put("a", "3").unwrap();
    kv.delete("b").unwrap();
    assert_eq!(sum(&entry(&mut w)), x("b", "2", 2, 0, Operation::Put));
    assert_eq!(sum(&entry(&mut w)), x("a", "3", 3, 0, Operation::Put));
    assert_eq!(sum(&entry(&mut w)), x("b", "", 4, 0, Operation::Delete));
    kv.put("c.x", "5").unwrap();
    // Latest per key, deletes included, deltas counting down, then the marker.
    let mut w = kv.watch_all().unwrap();
    assert_eq!(sum(&entry(&mut w)), x("a", "3", 3, 2, Operation::Put));
    assert_eq!(sum(&entry(&mut w)), x("b", "", 4, 1, Operation::Delete));
    assert_eq!(sum(&entry(&mut w)), x("c.x", "5", 5, 0, Operation::Put));
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    kv.put("a", "6").unwrap();
    assert_eq!(sum(&entry(&mut w)), x("a", "6", 6, 0, Operation::Put));
    assert_kind(
        w.next_timeout(Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    // A filter.
    let mut w = kv.watch("c.*").unwrap();
    assert_eq!(sum(&entry(&mut w)), x("c.x", "5", 5, 0, Operation::Put));
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    // Ignore deletes: the skipped delete still counts toward the marker.
    let mut w = kv
        .watch_with([">"], WatchOptions::new().ignore_deletes(true))
        .unwrap();
    assert_eq!(sum(&entry(&mut w)), x("c.x", "5", 5, 1, Operation::Put));
    assert_eq!(sum(&entry(&mut w)), x("a", "6", 6, 0, Operation::Put));
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    // Include history.
    let mut w = kv
        .watch_with(["a"], WatchOptions::new().include_history(true))
        .unwrap();
    let revs: Vec<(u64, u64)> = (0..3)
        .map(|_| entry(&mut w))
        .map(|e| (e.revision, e.delta))
        .collect();
    assert_eq!(revs, [(1, 2), (3, 1), (6, 0)]);
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    // Updates only: the marker first, then only new entries.
    let mut w = kv
        .watch_with([">"], WatchOptions::new().updates_only(true))
        .unwrap();
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    assert_kind(
        w.next_timeout(Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    kv.put("z", "7").unwrap();
    assert_eq!(sum(&entry(&mut w)), x("z", "7", 7, 0, Operation::Put));
    // Meta only: no values.
    let mut w = kv
        .watch_with(["z"], WatchOptions::new().meta_only(true))
        .unwrap();
    assert_eq!(sum(&entry(&mut w)), x("z", "", 7, 0, Operation::Put));
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    // Resume from a revision: everything from there, marker after the last.
    let mut w = kv
        .watch_with([">"], WatchOptions::new().resume_from_revision(5))
        .unwrap();
    let got: Vec<_> = (0..3)
        .map(|_| entry(&mut w))
        .map(|e| (e.key, e.revision))
        .collect();
    assert_eq!(got, [("c.x".into(), 5), ("a".into(), 6), ("z".into(), 7)]);
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    // The iterator form.
    let mut it = kv.watch("z").unwrap();
    assert!(matches!(it.next(), Some(Ok(WatchEvent::Entry(_)))));
    assert!(matches!(it.next(), Some(Ok(WatchEvent::InitialDone))));
    // Bad option mixes.
    assert_kind(
        kv.watch_with(
            [">"],
            WatchOptions::new().updates_only(true).include_history(true),
        ),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        kv.watch_with([">"], WatchOptions::new().resume_from_revision(0)),
        ErrorKind::InvalidOption,
    );
    // A watch on a deleted bucket ends with an error.
    let mut w = kv
        .watch_with([">"], WatchOptions::new().updates_only(true))
        .unwrap();
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    js.delete_key_value("w").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match w.next_timeout(Duration::from_secs(1)) {
            Err(e) if e.kind() == ErrorKind::Timeout => assert!(Instant::now() < deadline),
            Err(_) => break,
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
}

fn kv_bad_input_sends_nothing(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    for b in ["", "a.b", "a b", "a*", "a>", "a/b"] {
        assert_kind(js.create_key_value(mem(b)), ErrorKind::InvalidName);
        assert_kind(js.key_value(b), ErrorKind::InvalidName);
    }
    assert_kind(
        js.create_key_value(mem("h").history(65)),
        ErrorKind::InvalidOption,
    );
    assert_eq!(js.key_value_store_names().count(), 0);
    let kv = js.create_key_value(mem("b")).unwrap();
    for k in [
        "", ".a", "a.", "a..b", "a b", "a*", "a.>", "*", ">", "ä", "a\r\nb",
    ] {
        assert_kind(kv.put(k, "v"), ErrorKind::InvalidKey);
        assert_kind(kv.get(k), ErrorKind::InvalidKey);
        assert_kind(kv.create(k, "v"), ErrorKind::InvalidKey);
        assert_kind(kv.update(k, "v", 1), ErrorKind::InvalidKey);
        assert_kind(kv.delete(k), ErrorKind::InvalidKey);
        assert_kind(kv.purge(k), ErrorKind::InvalidKey);
        assert_kind(kv.history(k), ErrorKind::InvalidKey);
    }
    for f in ["", "a.>.b", "a..b", "a b"] {
        assert_kind(kv.watch(f), ErrorKind::InvalidKey);
        assert_kind(kv.keys_filtered([f]), ErrorKind::InvalidKey);
    }
    assert_kind(kv.get_revision("a", 0), ErrorKind::InvalidOption);
    assert_kind(
        kv.delete_with("a", DeleteOptions::new().revision(0)),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        kv.purge_with("a", PurgeOptions::new().ttl(Duration::from_millis(10))),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        kv.create_with_ttl("a", "v", Duration::from_millis(10)),
        ErrorKind::InvalidOption,
    );
    assert_eq!(messages(&kv), 0);
    let mut s = js.stream("KV_b").unwrap();
    assert_eq!(s.info().unwrap().state.consumer_count, 0);
}

fn kv_ttl_and_limit_markers(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let kv = js
        .create_key_value(
            mem("ttl")
                .history(3)
                .limit_marker_ttl(Duration::from_secs(5)),
        )
        .unwrap();
    let st = kv.status().unwrap();
    assert_eq!(st.limit_marker_ttl(), Some(Duration::from_secs(5)));
    assert!(st.stream_info().config.allow_msg_ttl);
    // A key with a TTL of 1 s: gone after it, with a marker a watcher sees as a purge.
    let mut w = kv
        .watch_with([">"], WatchOptions::new().updates_only(true))
        .unwrap();
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    assert_eq!(
        kv.create_with_ttl("tmp", "v", Duration::from_secs(1))
            .unwrap(),
        1
    );
    assert_eq!(sum(&entry(&mut w)), x("tmp", "v", 1, 0, Operation::Put));
    assert_kind(kv.create("tmp", "x"), ErrorKind::KeyExists);
    let marker = entry(&mut w);
    assert_eq!(
        (marker.key.as_str(), marker.operation),
        ("tmp", Operation::Purge)
    );
    assert_kind(kv.get("tmp"), ErrorKind::KeyNotFound);
    // Create over the marker works.
    assert!(kv.create("tmp", "again").unwrap() > marker.revision);
    // A purge whose marker expires: afterwards the key has no history at all.
    kv.put("p", "1").unwrap();
    kv.purge_with("p", PurgeOptions::new().ttl(Duration::from_secs(1)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while kv.history("p").is_ok() {
        assert!(Instant::now() < deadline, "the purge marker did not expire");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A bucket without markers refuses per-key TTLs (the server says so).
    let plain = js.create_key_value(mem("plain")).unwrap();
    assert_kind(
        plain.create_with_ttl("a", "v", Duration::from_secs(1)),
        ErrorKind::JetStream,
    );
}

fn kv_domain(t: Transport) {
    let server = NatsServer::builder()
        .transport(t)
        .jetstream_domain("hub")
        .start()
        .unwrap();
    let c = Ctx { t, server };
    let nc = c.connect();
    let js = nc
        .jetstream_with(JetStreamOptions::new().domain("hub"))
        .unwrap();
    assert_eq!(js.account_info().unwrap().domain.as_deref(), Some("hub"));
    let kv = js.create_key_value(mem("dom")).unwrap();
    assert_eq!(kv.put("a", "1").unwrap(), 1);
    assert_eq!(kv.create("b", "2").unwrap(), 2);
    assert_eq!(kv.update("a", "3", 1).unwrap(), 3);
    assert_eq!(&kv.get("a").unwrap().value[..], b"3");
    assert_eq!(kv.keys().unwrap(), ["a", "b"]);
    let mut w = kv.watch_all().unwrap();
    assert_eq!(entry(&mut w).revision, 2);
    assert_eq!(entry(&mut w).revision, 3);
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    kv.delete("b").unwrap();
    assert_eq!(entry(&mut w).operation, Operation::Delete);
    assert_eq!(
        js.key_value_store_names()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>(),
        ["dom"]
    );
    // A wrong domain fails cleanly.
    let other = nc
        .jetstream_with(
            JetStreamOptions::new()
                .domain("elsewhere")
                .timeout(Duration::from_millis(500)),
        )
        .unwrap();
    assert!(other.key_value("dom").is_err());
}

fn kv_watch_across_server_restart(t: Transport) {
    let mut c = Ctx::jetstream(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let js = nc.jetstream();
    let kv = js.create_key_value(Config::new("r").history(10)).unwrap();
    for i in 1..=30u64 {
        kv.put(&format!("k{}", i % 7), format!("{i}")).unwrap();
    }
    let mut w = kv
        .watch_with([">"], WatchOptions::new().include_history(true))
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        seen.push(entry(&mut w).revision);
    }
    c.server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = 31u64;
    // Write more once the connection is back (puts during the outage would just fail).
    let mut written = false;
    let mut marker = 0;
    while seen.len() < 40 {
        assert!(Instant::now() < deadline, "watch stalled at {seen:?}");
        if !written && nc.state() == natsws::State::Connected {
            while next <= 40 {
                match kv.put(&format!("k{}", next % 7), format!("{next}")) {
                    Ok(rev) => {
                        assert_eq!(rev, next);
                        next += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
                assert!(Instant::now() < deadline);
            }
            written = true;
        }
        match w.next_timeout(Duration::from_millis(500)) {
            Ok(WatchEvent::Entry(e)) => seen.push(e.revision),
            Ok(WatchEvent::InitialDone) => {
                assert_eq!(
                    seen.len(),
                    30,
                    "the marker comes after the 30 initial entries"
                );
                marker += 1;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) if matches!(e.kind(), ErrorKind::Timeout) => {}
            Err(e) => panic!("watch failed: {e}"),
        }
    }
    assert_eq!(seen, (1..=40).collect::<Vec<u64>>());
    assert_eq!(marker, 1);
    assert_kind(
        w.next_timeout(Duration::from_millis(300)),
        ErrorKind::Timeout,
    );
}

/// KV through a JetStream imported from another account under an API prefix: puts go behind
/// the prefix, reads and watches through the imported API.
#[test]
fn kv_api_prefix_import() {
    let extra = r#"
accounts {
  JS: {
    jetstream: enabled
    users: [{user: js, password: js}]
    exports: [
      {service: "$JS.API.>", response_type: stream}
      {service: "$KV.>"}
    ]
  }
  APP: {
    users: [{user: app, password: app}]
    imports: [
      {service: {account: JS, subject: "$JS.API.>"}, to: "jsimp.API.>"}
      {service: {account: JS, subject: "$KV.>"}, to: "jsimp.API.$KV.>"}
    ]
  }
}
"#;
    let server = NatsServer::builder()
        .transport(Transport::Tcp)
        .jetstream(true)
        .config(extra)
        .start()
        .unwrap();
    let owner = natsws::connect(with_user(&server.tcp_url(), "js", "js").as_str()).unwrap();
    let okv = owner.jetstream().create_key_value(mem("shared")).unwrap();
    okv.put("a", "from the owner").unwrap();

    let app = natsws::connect(with_user(&server.tcp_url(), "app", "app").as_str()).unwrap();
    let js = app
        .jetstream_with(JetStreamOptions::new().api_prefix("jsimp.API"))
        .unwrap();
    let kv = js.key_value("shared").unwrap();
    assert_eq!(&kv.get("a").unwrap().value[..], b"from the owner");
    assert_eq!(kv.put("b", "from the importer").unwrap(), 2);
    assert_eq!(kv.update("b", "again", 2).unwrap(), 3);
    assert_eq!(&okv.get("b").unwrap().value[..], b"again");
    assert_eq!(kv.keys().unwrap(), ["a", "b"]);
    let mut w = kv.watch_all().unwrap();
    assert_eq!(entry(&mut w).key, "a");
    assert_eq!(entry(&mut w).revision, 3);
    assert_eq!(ev(&mut w), WatchEvent::InitialDone);
    okv.delete("a").unwrap();
    assert_eq!(entry(&mut w).operation, Operation::Delete);
}
