//! JetStream on a three-node test cluster (tcp only: three JetStream nodes per transport would
//! be heavy for CI): replicated streams, the R>1 wrong-sequence code, consuming through
//! another node.
#![cfg(feature = "jetstream")]

mod common;

use std::time::Duration;

use common::*;
use natsws::jetstream::{ConsumerConfig, FetchOptions, PublishOptions, StorageType, StreamConfig};
use natsws::test_server::{Cluster, Transport};
use natsws::ErrorKind;

#[test]
fn replicated_stream_on_a_cluster() {
    let cluster = Cluster::start_jetstream(3, Transport::Tcp).unwrap();
    let nc = natsws::connect(cluster.node(0).tcp_url().as_str()).unwrap();
    let js = nc.jetstream();
    let s = js
        .create_stream(
            StreamConfig::new("R3")
                .subjects(["r3.>"])
                .storage(StorageType::File)
                .replicas(3),
        )
        .unwrap();
    let ci = s.cached_info().cluster.clone().expect("cluster info");
    assert!(ci.leader.is_some());
    assert_eq!(ci.replicas.len(), 2);
    for i in 1..=20u64 {
        assert_eq!(js.publish("r3.a", "x").unwrap().sequence, i);
    }
    // Wrong last sequences are one kind, whether the server says 10071 or (for some checks on
    // replicated streams) 10164.
    let e = assert_kind(
        js.publish_with(
            "r3.a",
            "x",
            &PublishOptions::new().expected_last_sequence(3),
        ),
        ErrorKind::WrongLastSequence,
    );
    let code = e.api_error().unwrap().err_code;
    assert_eq!(code, 10071, "{e}");
    let e = assert_kind(
        js.publish_with(
            "r3.a",
            "x",
            &PublishOptions::new().expected_last_subject_sequence(3),
        ),
        ErrorKind::WrongLastSequence,
    );
    eprintln!("expected last subject sequence on R3: {e}");
    let code = e.api_error().unwrap().err_code;
    assert!(code == 10071 || code == 10164, "{e}");

    // Another node serves the same stream and durable.
    let nc2 = natsws::connect(cluster.node(2).tcp_url().as_str()).unwrap();
    let js2 = nc2.jetstream();
    let con = js2
        .create_consumer("R3", ConsumerConfig::durable("d"))
        .unwrap();
    let msgs: Vec<_> = con
        .fetch(FetchOptions::new(20).expires(Duration::from_secs(2)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(msgs.len(), 20);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.metadata().unwrap().stream_sequence, i as u64 + 1);
        m.ack_sync(WAIT).unwrap();
    }
}
