//! Object Store buckets against a real nats-server with JetStream, over tcp, ws and wss:
//! buckets, put/get with exact chunks and digests, replacing and deleting, metadata, links,
//! watch and list, bad input, corrupt data on the server.
#![cfg(feature = "object_store")]

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use common::proxy::Proxy;
use common::*;
use natsws::jetstream::{PublishOptions, StorageType, ROLLUP, ROLLUP_SUBJECT};
use natsws::object_store::{
    Config, ObjectInfo, ObjectMeta, ObjectStore, ObjectWatchEvent, ObjectWatcher, WatchOptions,
};
use natsws::test_server::Transport;
use natsws::{ErrorKind, Headers, Message};

each_transport!(
    os_buckets,
    os_put_get_chunks_and_digests,
    os_replace_delete_and_meta,
    os_links,
    os_watch_and_list,
    os_bad_input_sends_nothing,
    os_corrupt_data_is_an_error,
    os_put_pipelines_chunks,
);

fn mem(bucket: &str) -> Config {
    Config::new(bucket).storage(StorageType::Memory)
}

/// Deterministic bytes: `n` of them, different for each `seed`.
fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

fn read_all(store: &ObjectStore, name: &str) -> Vec<u8> {
    let mut r = store.get(name).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

/// The padded base64url SHA-256 as other clients write it, from the sha256sum tool.
fn sha256_b64url(bytes: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let raw: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    format!("SHA-256={}", data_encoding::BASE64URL.encode(&raw))
}

fn messages(store: &ObjectStore) -> u64 {
    store.status().unwrap().stream_info().state.messages
}

fn os_buckets(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let store = js
        .create_object_store(mem("files").description("d").ttl(Duration::from_secs(3600)))
        .unwrap();
    assert_eq!(store.bucket(), "files");
    let sc = js.stream("OBJ_files").unwrap().cached_info().config.clone();
    assert_eq!(sc.subjects, ["$O.files.C.>", "$O.files.M.>"]);
    assert!(sc.allow_rollup_hdrs && sc.allow_direct);
    assert_eq!(sc.discard, natsws::jetstream::DiscardPolicy::New);
    js.create_object_store(mem("files").description("d").ttl(Duration::from_secs(3600)))
        .unwrap();
    assert_kind(
        js.create_object_store(mem("files")),
        ErrorKind::BucketExists,
    );
    js.create_object_store(mem("other")).unwrap();
    let mut names: Vec<String> = js.object_store_names().map(|r| r.unwrap()).collect();
    names.sort();
    assert_eq!(names, ["files", "other"]);
    store.put_bytes("a", b"12345").unwrap();
    let st = store.status().unwrap();
    assert_eq!(
        (
            st.bucket(),
            st.description(),
            st.ttl(),
            st.storage(),
            st.replicas(),
            st.sealed()
        ),
        (
            "files",
            "d",
            Duration::from_secs(3600),
            StorageType::Memory,
            1,
            false
        )
    );
    assert!(st.size() > 5);
    assert_eq!(st.backing_store(), "JetStream");
    assert!(!st.is_compressed());
    let mut listed: Vec<String> = js
        .object_stores()
        .map(|r| r.unwrap().bucket().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["files", "other"]);
    // Seal: reads work, writes do not.
    store.seal().unwrap();
    assert!(store.status().unwrap().sealed());
    assert_eq!(read_all(&store, "a"), b"12345");
    assert!(store.put_bytes("b", b"x").is_err());
    assert!(store.delete("a").is_err());
    // Open, delete.
    assert_eq!(js.object_store("other").unwrap().bucket(), "other");
    js.delete_object_store("other").unwrap();
    assert_kind(js.object_store("other"), ErrorKind::BucketNotFound);
    assert_kind(js.delete_object_store("other"), ErrorKind::BucketNotFound);
    assert_kind(js.object_store("a.b"), ErrorKind::InvalidName);
}

fn os_put_get_chunks_and_digests(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let store = js.create_object_store(mem("p")).unwrap();
    // 95 bytes at chunk size 10: 10 chunks, sequences 1-10, meta at 11.
    let d = data(95, 1);
    let info = store
        .put(ObjectMeta::new("small").chunk_size(10), &mut &d[..])
        .unwrap();
    assert_eq!((info.size, info.chunks), (95, 10));
    assert_eq!(info.digest.as_deref(), Some(sha256_b64url(&d).as_str()));
    assert_eq!((info.bucket.as_str(), info.name.as_str()), ("p", "small"));
    assert!(info.modified.is_some() && !info.deleted && !info.is_link());
    assert_eq!(messages(&store), 11);
    let stored = store.info("small").unwrap();
    assert_eq!(
        (
            stored.size,
            stored.chunks,
            &stored.digest,
            &stored.nuid,
            stored.max_chunk_size
        ),
        (95, 10, &info.digest, &info.nuid, Some(10))
    );
    assert_eq!(read_all(&store, "small"), d);
    // Reading in odd-sized pieces gives the same bytes.
    let mut r = store.get("small").unwrap();
    assert_eq!(r.info().size, 95);
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, d);
    assert_eq!(r.read(&mut buf).unwrap(), 0);
    // The default chunk: 128 KiB; 300 KiB make 3 chunks.
    let big = data(300 * 1024, 2);
    let info = store.put(ObjectMeta::new("big"), &mut &big[..]).unwrap();
    assert_eq!((info.size, info.chunks), (300 * 1024, 3));
    assert_eq!(info.digest.as_deref(), Some(sha256_b64url(&big).as_str()));
    assert_eq!(store.get_bytes("big").unwrap(), big);
    // An exact multiple of the chunk size: no empty last chunk.
    let even = data(40, 3);
    let info = store
        .put(ObjectMeta::new("even").chunk_size(10), &mut &even[..])
        .unwrap();
    assert_eq!(info.chunks, 4);
    assert_eq!(store.get_bytes("even").unwrap(), even);
    // The empty object: no chunks, the digest of nothing, read at once.
    let info = store.put_bytes("empty", b"").unwrap();
    assert_eq!((info.size, info.chunks), (0, 0));
    assert_eq!(
        info.digest.as_deref(),
        Some("SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=")
    );
    assert_eq!(read_all(&store, "empty"), b"");
    // Names that need padding, and odd characters, in base64url.
    for name in ["a", "ab", "?>~", "dir/file name.txt", "ünï"] {
        store.put_bytes(name, name.as_bytes()).unwrap();
        assert_eq!(store.get_bytes(name).unwrap(), name.as_bytes());
    }
    let raw = js
        .stream("OBJ_p")
        .unwrap()
        .get_last_msg("$O.p.M.YQ==")
        .unwrap();
    assert!(std::str::from_utf8(&raw.payload)
        .unwrap()
        .contains(r#""name":"a""#));
    js.stream("OBJ_p")
        .unwrap()
        .get_last_msg("$O.p.M.Pz5-")
        .unwrap();
    // Files.
    let dir = std::env::temp_dir().join(format!("natsws-os-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("src-{t:?}"));
    std::fs::write(&src, &big).unwrap();
    store.put_file(ObjectMeta::new("file"), &src).unwrap();
    let dst = dir.join(format!("dst-{t:?}"));
    let info = store.get_file("file", &dst).unwrap();
    assert_eq!(info.size, big.len() as u64);
    assert_eq!(std::fs::read(&dst).unwrap(), big);
    let _ = std::fs::remove_file(src);
    let _ = std::fs::remove_file(dst);
    // Missing.
    assert_kind(store.get("nope"), ErrorKind::ObjectNotFound);
    assert_kind(store.info("nope"), ErrorKind::ObjectNotFound);
}

fn os_replace_delete_and_meta(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let store = js.create_object_store(mem("r")).unwrap();
    // Two puts of 9 bytes at chunk 1: seqs 1-10, then 11-20 with the old chunks purged.
    store
        .put(ObjectMeta::new("o").chunk_size(1), &mut &b"123456789"[..])
        .unwrap();
    store
        .put(ObjectMeta::new("o").chunk_size(1), &mut &b"abcdefghi"[..])
        .unwrap();
    let st = store.status().unwrap();
    assert_eq!(
        (
            st.stream_info().state.first_seq,
            st.stream_info().state.messages
        ),
        (11, 10)
    );
    assert_eq!(store.get_bytes("o").unwrap(), b"abcdefghi");
    // Metadata, headers, description.
    let mut h = Headers::new();
    h.append("X-Kind", "firmware");
    h.append("X-Kind", "signed");
    let md = HashMap::from([("version".to_string(), "1.2".to_string())]);
    let meta = ObjectMeta::new("m")
        .description("desc")
        .headers(h.clone())
        .metadata(md.clone());
    store.put(meta, &mut &b"meta"[..]).unwrap();
    let i = store.info("m").unwrap();
    assert_eq!(i.description, "desc");
    assert_eq!(i.metadata, md);
    let ih = i.headers.clone().unwrap();
    assert_eq!(
        ih.get_all("X-Kind").collect::<Vec<_>>(),
        ["firmware", "signed"]
    );
    // Update meta: in place, then a rename.
    let i2 = store
        .update_meta("m", ObjectMeta::new("m").description("new"))
        .unwrap();
    assert_eq!((i2.description.as_str(), i2.size), ("new", 4));
    assert_eq!(store.info("m").unwrap().description, "new");
    store.update_meta("m", ObjectMeta::new("renamed")).unwrap();
    assert_kind(store.info("m"), ErrorKind::ObjectNotFound);
    assert_eq!(store.get_bytes("renamed").unwrap(), b"meta");
    // Renaming onto a live object is refused; onto a deleted one it is fine.
    assert_kind(
        store.update_meta("renamed", ObjectMeta::new("o")),
        ErrorKind::ObjectExists,
    );
    assert_eq!(store.get_bytes("o").unwrap(), b"abcdefghi");
    // Delete: a tombstone, chunks gone.
    let before = messages(&store);
    store.delete("o").unwrap();
    assert_kind(store.info("o"), ErrorKind::ObjectNotFound);
    assert_kind(store.get("o"), ErrorKind::ObjectNotFound);
    assert_kind(store.delete("o"), ErrorKind::ObjectNotFound);
    assert_eq!(messages(&store), before - 9);
    store.update_meta("renamed", ObjectMeta::new("o")).unwrap();
    assert_eq!(store.get_bytes("o").unwrap(), b"meta");
    // Put over a deleted name works.
    store.put_bytes("renamed", b"again").unwrap();
    assert_eq!(store.get_bytes("renamed").unwrap(), b"again");
}

fn os_links(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let store = js.create_object_store(mem("l")).unwrap();
    let other = js.create_object_store(mem("l2")).unwrap();
    let target = store.put_bytes("target", b"content").unwrap();
    let link = store.add_link("ln", &target).unwrap();
    assert!(link.is_link());
    let stored = store.info("ln").unwrap();
    let l = stored.link.unwrap();
    assert_eq!(
        (l.bucket.as_str(), l.name.as_deref()),
        ("l", Some("target"))
    );
    assert_eq!(store.get_bytes("ln").unwrap(), b"content");
    // Across buckets.
    other.add_link("far", &target).unwrap();
    assert_eq!(other.get_bytes("far").unwrap(), b"content");
    // Link to a link: refused.
    let li = store.info("ln").unwrap();
    assert_kind(store.add_link("ln2", &li), ErrorKind::InvalidOption);
    // Over a live object: refused; over a link: fine.
    store.put_bytes("live", b"x").unwrap();
    assert_kind(store.add_link("live", &target), ErrorKind::ObjectExists);
    let t2 = store.put_bytes("t2", b"two").unwrap();
    store.add_link("ln", &t2).unwrap();
    assert_eq!(store.get_bytes("ln").unwrap(), b"two");
    // A bucket link: stored, not readable.
    let bl = store.add_bucket_link("bucket", &other).unwrap();
    let bl_stored = store.info("bucket").unwrap();
    assert_eq!(bl_stored.link, bl.link);
    assert_eq!(bl_stored.link.unwrap().name, None);
    assert_kind(store.get("bucket"), ErrorKind::InvalidOption);
    // To a deleted object, or one deleted since it was read: refused, nothing sent.
    store.delete("t2").unwrap();
    let n = messages(&store);
    assert_kind(store.add_link("x", &t2), ErrorKind::ObjectNotFound);
    let mut gone = t2.clone();
    gone.deleted = true;
    assert_kind(store.add_link("x", &gone), ErrorKind::ObjectNotFound);
    assert_eq!(messages(&store), n);
    assert_kind(store.get("ln"), ErrorKind::ObjectNotFound);
}

#[track_caller]
fn ev(w: &mut ObjectWatcher) -> ObjectWatchEvent {
    w.next_timeout(WAIT)
        .unwrap_or_else(|e| panic!("watch: {e}"))
}

#[track_caller]
fn info(w: &mut ObjectWatcher) -> ObjectInfo {
    match ev(w) {
        ObjectWatchEvent::Info(i) => i,
        other => panic!("wanted an info, got {other:?}"),
    }
}

fn os_watch_and_list(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let store = js.create_object_store(mem("w")).unwrap();
    assert_eq!(store.list().unwrap().count(), 0);
    let mut w = store.watch().unwrap();
    assert!(!w.initial_done());
    assert_eq!(ev(&mut w), ObjectWatchEvent::InitialDone);
    assert!(w.initial_done());
    store.put_bytes("a", b"1").unwrap();
    let i = info(&mut w);
    assert_eq!((i.name.as_str(), i.size, i.deleted), ("a", 1, false));
    assert!(i.modified.is_some());
    store.put_bytes("b", b"22").unwrap();
    store.delete("b").unwrap();
    assert_eq!(info(&mut w).name, "b");
    let d = info(&mut w);
    assert_eq!((d.name.as_str(), d.deleted, d.size), ("b", true, 0));
    store.put_bytes("c", b"333").unwrap();
    // A new watch: the latest of each, deletes included, then the marker.
    let mut w = store.watch().unwrap();
    let got: Vec<(String, bool)> = (0..3)
        .map(|_| info(&mut w))
        .map(|i| (i.name, i.deleted))
        .collect();
    assert_eq!(
        got,
        [("a".into(), false), ("b".into(), true), ("c".into(), false)]
    );
    assert_eq!(ev(&mut w), ObjectWatchEvent::InitialDone);
    // Ignore deletes, history, updates only.
    let mut w = store
        .watch_with(WatchOptions::new().ignore_deletes(true))
        .unwrap();
    assert_eq!(info(&mut w).name, "a");
    assert_eq!(info(&mut w).name, "c");
    assert_eq!(ev(&mut w), ObjectWatchEvent::InitialDone);
    // Meta subjects roll up: the history is one info per name, in stream order.
    let mut w = store
        .watch_with(WatchOptions::new().include_history(true))
        .unwrap();
    let names: Vec<String> = (0..3).map(|_| info(&mut w).name).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(ev(&mut w), ObjectWatchEvent::InitialDone);
    let mut w = store
        .watch_with(WatchOptions::new().updates_only(true))
        .unwrap();
    assert_eq!(ev(&mut w), ObjectWatchEvent::InitialDone);
    assert_kind(
        w.next_timeout(Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    store.put_bytes("d", b"4").unwrap();
    assert_eq!(info(&mut w).name, "d");
    // List: live objects only.
    let mut names: Vec<String> = store.list().unwrap().map(|r| r.unwrap().name).collect();
    names.sort();
    assert_eq!(names, ["a", "c", "d"]);
}

fn os_bad_input_sends_nothing(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    for b in ["", "a.b", "a b", "a*", "a>"] {
        assert_kind(js.create_object_store(mem(b)), ErrorKind::InvalidName);
    }
    let store = js.create_object_store(mem("b")).unwrap();
    let max = nc.max_payload();
    assert_kind(
        store.put(ObjectMeta::new("x").chunk_size(max + 1), &mut &b"data"[..]),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        store.put(ObjectMeta::new("x").chunk_size(0), &mut &b"data"[..]),
        ErrorKind::InvalidOption,
    );
    assert_kind(store.put_bytes("", b"x"), ErrorKind::InvalidName);
    assert_kind(store.get(""), ErrorKind::InvalidName);
    assert_eq!(messages(&store), 0);
    // Exactly max_payload is fine.
    let d = data(max + 5, 9);
    let info = store
        .put(ObjectMeta::new("max").chunk_size(max), &mut &d[..])
        .unwrap();
    assert_eq!(info.chunks, 2);
    assert_eq!(store.get_bytes("max").unwrap(), d);
    // A reader that fails: the error, and the new chunks removed.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
    }
    let before = messages(&store);
    let e = assert_kind(
        store.put(ObjectMeta::new("max").chunk_size(100), &mut Failing(1000)),
        ErrorKind::Io,
    );
    assert!(e.to_string().contains("disk gone"), "{e}");
    assert_eq!(messages(&store), before);
    assert_eq!(store.get_bytes("max").unwrap(), d);
    // A put the bucket refuses half way (its byte limit): an error, the new chunks gone, the
    // previous version intact.
    let small = js
        .create_object_store(mem("small").max_bytes(20_000))
        .unwrap();
    small.put_bytes("o", b"first").unwrap();
    let before = messages(&small);
    let big = data(50_000, 5);
    assert!(small
        .put(ObjectMeta::new("o").chunk_size(1000), &mut &big[..])
        .is_err());
    assert_eq!(messages(&small), before);
    assert_eq!(small.get_bytes("o").unwrap(), b"first");
}

fn publish_info_json(js: &natsws::jetstream::JetStream, subject: &str, json: String) {
    let mut h = Headers::new();
    h.insert(ROLLUP, ROLLUP_SUBJECT);
    js.publish_message(
        &Message::new(subject, json).with_headers(h),
        &PublishOptions::new(),
    )
    .unwrap();
}

fn os_corrupt_data_is_an_error(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let store = js.create_object_store(mem("c")).unwrap();
    let d = data(50, 4);
    let info = store
        .put(ObjectMeta::new("o").chunk_size(10), &mut &d[..])
        .unwrap();
    let meta_subject = "$O.c.M.bw==";
    let raw = js
        .stream("OBJ_c")
        .unwrap()
        .get_last_msg(meta_subject)
        .unwrap();
    let good = String::from_utf8(raw.payload.to_vec()).unwrap();
    let digest = info.digest.clone().unwrap();
    let check = |want_bytes: Option<&[u8]>| {
        let e = assert_kind(store.get_bytes("o"), ErrorKind::DigestMismatch);
        assert!(e.to_string().contains("'o'"), "{e}");
        // Through Read: an InvalidData io::Error holding the natsws error.
        let mut r = store.get("o").unwrap();
        let mut out = Vec::new();
        let ioe = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(ioe.kind(), std::io::ErrorKind::InvalidData);
        let inner = ioe
            .get_ref()
            .unwrap()
            .downcast_ref::<natsws::Error>()
            .unwrap();
        assert_eq!(inner.kind(), ErrorKind::DigestMismatch);
        if let Some(w) = want_bytes {
            assert_eq!(&out[..], w);
        }
        // And again: still the error, not a quiet end.
        assert_eq!(
            r.read(&mut [0u8; 8]).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    };
    // A wrong digest in the info.
    let other = "SHA-256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    publish_info_json(&js, meta_subject, good.replace(&digest, other));
    check(Some(&d));
    // The info claims more than is stored (a chunk missing).
    publish_info_json(
        &js,
        meta_subject,
        good.replace(r#""size":50"#, r#""size":60"#)
            .replace(r#""chunks":5"#, r#""chunks":6"#),
    );
    check(Some(&d));
    // A chunk too many on the server.
    publish_info_json(&js, meta_subject, good.clone());
    assert_eq!(store.get_bytes("o").unwrap(), d);
    js.publish(&format!("$O.c.C.{}", info.nuid), "extra")
        .unwrap();
    check(None);
    // Not JSON at all.
    publish_info_json(&js, meta_subject, "{not json".to_string());
    assert_kind(store.get("o"), ErrorKind::Protocol);
}

/// Chunk acks are pipelined, not awaited one by one: with the connection frozen after the
/// first chunk (no ack can come back), the put still reads and publishes the next chunks,
/// and the acks outstanding grow with them; after the thaw the put completes intact.
fn os_put_pipelines_chunks(t: Transport) {
    let c = Ctx::jetstream(t);
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], port_of(&c.url())));
    let proxy = Proxy::start(upstream);
    let scheme = match t {
        Transport::Tcp => "nats",
        Transport::Ws => "ws",
        _ => "wss",
    };
    let nc = c.opts().connect(proxy.url(scheme).as_str()).unwrap();
    let js = nc.jetstream();
    let store = js.create_object_store(mem("pipe")).unwrap();
    const CHUNK: usize = 1000;
    const CHUNKS: usize = 30;
    struct Watching<'a> {
        js: natsws::jetstream::JetStream,
        proxy: &'a Proxy,
        calls: usize,
        pending_at_10: Option<usize>,
    }
    impl Read for Watching<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            match self.calls {
                2 => self.proxy.freeze(),
                11 => {
                    self.pending_at_10 = Some(self.js.pending_acks());
                    self.proxy.thaw();
                }
                _ => {}
            }
            if self.calls > CHUNKS {
                return Ok(0);
            }
            let n = buf.len().min(CHUNK);
            buf[..n].fill(self.calls as u8);
            Ok(n)
        }
    }
    let mut r = Watching {
        js: js.clone(),
        proxy: &proxy,
        calls: 0,
        pending_at_10: None,
    };
    let info = store
        .put(ObjectMeta::new("p").chunk_size(CHUNK), &mut r)
        .unwrap();
    // Chunks 2..=10 were published while nothing could come back.
    let pending = r.pending_at_10.expect("the put kept reading while frozen");
    assert!(pending >= 9, "only {pending} acks outstanding");
    assert_eq!(
        (info.size, info.chunks),
        ((CHUNK * CHUNKS) as u64, CHUNKS as u64)
    );
    let back = store.get_bytes("p").unwrap();
    for (i, piece) in back.chunks(CHUNK).enumerate() {
        assert!(piece.iter().all(|&b| b == (i + 1) as u8), "chunk {i}");
    }
}
