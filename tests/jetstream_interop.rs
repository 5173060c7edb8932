//! Interop with another client through the same stream and durables: nats-py reads what
//! natsws published, natsws reads what nats-py published (tests/interop/nats_py.py). The
//! natsws side runs over tcp, ws and wss; nats-py over tcp. Fails (does not skip) when
//! python3 or nats-py is missing: `python3 -m pip install nats-py` (.ci/run does).
#![cfg(feature = "jetstream")]

mod common;

use std::time::Duration;

use common::*;
use natsws::jetstream::{FetchOptions, PublishOptions, StorageType, StreamConfig};
use natsws::test_server::Transport;
use natsws::Headers;

each_transport!(interop_with_nats_py);

fn interop_with_nats_py(t: Transport) {
    let c = Ctx::jetstream(t);
    let nc = c.connect();
    let js = nc.jetstream();
    js.create_stream(
        StreamConfig::new("INTEROP")
            .subjects(["interop.>"])
            .storage(StorageType::Memory),
    )
    .unwrap();
    for i in 0..50 {
        let mut h = Headers::new();
        h.insert("X-From", "natsws");
        let ack = js
            .publish_with(
                "interop.rs",
                format!("rs-{i}"),
                &PublishOptions::new().headers(h).msg_id(format!("rs-{i}")),
            )
            .unwrap();
        assert_eq!(ack.sequence, i + 1);
    }

    let out = run_nats_py("nats_py.py", &c.server.tcp_url());
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["read"], 50, "{out}");
    assert_eq!(summary["published"], 50, "{out}");
    assert_eq!(summary["shared_acked"], 25, "{out}");

    // nats-py acked everything natsws published.
    let py = js.consumer("INTEROP", "py").unwrap();
    let info = py.cached_info();
    assert_eq!((info.ack_floor.stream_seq, info.num_pending), (50, 0));
    assert_eq!(info.num_ack_pending, 0);

    // natsws reads the rest of nats-py's messages through nats-py's durable.
    let shared = js.consumer("INTEROP", "shared").unwrap();
    let msgs: Vec<_> = shared
        .fetch(FetchOptions::new(50).expires(Duration::from_millis(500)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(msgs.len(), 25);
    for (i, m) in msgs.iter().enumerate() {
        let md = m.metadata().unwrap();
        assert_eq!(md.stream_sequence, 76 + i as u64);
        assert_eq!(md.consumer, "shared");
        assert_eq!(&m.payload()[..], format!("py-{}", 25 + i).as_bytes());
        assert_eq!(m.headers().unwrap().get("X-From"), Some("nats-py"));
        m.ack_sync(WAIT).unwrap();
    }
    let mut shared = shared;
    let info = shared.info().unwrap();
    assert_eq!((info.ack_floor.stream_seq, info.num_pending), (100, 0));
}
