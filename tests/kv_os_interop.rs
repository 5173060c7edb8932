//! Interop of Key-Value and Object Store with nats-py (tests/interop/kv_os_py.py): a key put
//! by one is read and watched by the other; an object of several chunks put by one is read,
//! digest-checked, by the other; object names that need padding in base64url. The natsws
//! side runs over tcp, ws and wss; nats-py over tcp. Fails (does not skip) when python3 or
//! nats-py is missing: `python3 -m pip install nats-py` (.ci/run does).
#![cfg(all(feature = "kv", feature = "object_store"))]

mod common;

use common::*;
use natsws::jetstream::StorageType;
use natsws::kv::{Operation, WatchEvent};
use natsws::object_store::ObjectMeta;
use natsws::test_server::Transport;

each_transport!(kv_and_objects_with_nats_py);

fn pattern(n: usize, mul: usize, m: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * mul) % m) as u8).collect()
}

fn kv_and_objects_with_nats_py(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    let kv = js
        .create_key_value(natsws::kv::Config::new("ikv").storage(StorageType::Memory))
        .unwrap();
    assert_eq!(kv.put("from.rs", "hello from natsws").unwrap(), 1);
    let store = js
        .create_object_store(natsws::object_store::Config::new("ios").storage(StorageType::Memory))
        .unwrap();
    let obj = pattern(5000, 7, 251);
    let info = store
        .put(ObjectMeta::new("a?").chunk_size(1000), &mut &obj[..])
        .unwrap();
    assert_eq!(info.chunks, 5);
    let mut w = kv.watch("from.>").unwrap();
    assert!(matches!(w.next_timeout(WAIT).unwrap(), WatchEvent::Entry(e) if e.key == "from.rs"));
    assert_eq!(w.next_timeout(WAIT).unwrap(), WatchEvent::InitialDone);

    let out = run_nats_py("kv_os_py.py", &c.server.tcp_url());
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let py_rev = v["py_revision"].as_u64().unwrap();
    assert_eq!(py_rev, 2);

    // The key nats-py put: watched and read.
    match w.next_timeout(WAIT).unwrap() {
        WatchEvent::Entry(e) => {
            assert_eq!(
                (e.key.as_str(), &e.value[..], e.revision, e.operation),
                (
                    "from.py",
                    &b"hello from nats-py"[..],
                    py_rev,
                    Operation::Put
                )
            );
        }
        other => panic!("wanted nats-py's entry, got {other:?}"),
    }
    assert_eq!(&kv.get("from.py").unwrap().value[..], b"hello from nats-py");

    // The object nats-py put: read with its digest checked, same digest as nats-py reports.
    let info = store.info("py?>").unwrap();
    assert_eq!((info.size, info.chunks), (300 * 1024, 3));
    assert_eq!(info.digest.as_deref(), v["py_digest"].as_str());
    assert_eq!(
        store.get_bytes("py?>").unwrap(),
        pattern(300 * 1024, 13, 253)
    );
    // Its meta subject is the padded base64url of the name.
    js.stream("OBJ_ios")
        .unwrap()
        .get_last_msg("$O.ios.M.cHk_Pg==")
        .unwrap();
}
