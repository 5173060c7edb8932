//! JetStream starts no thread: publishing with acks, fetching, consuming, ordered and push
//! consumers all run inside the caller's calls (three threads per connection, no more). The
//! one test of this binary, so no other test's threads are counted (Linux: /proc/self/task).
#![cfg(all(feature = "jetstream", target_os = "linux"))]

mod common;

use std::time::Duration;

use common::*;
use natsws::jetstream::{
    ConsumeOptions, ConsumerConfig, FetchOptions, OrderedConsumerConfig, StorageType, StreamConfig,
};
use natsws::test_server::Transport;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn jetstream_starts_no_threads() {
    let c = Ctx::jetstream(Transport::Tcp);
    let nc = c.connect();
    nc.flush().unwrap();
    let before = threads();
    let js = nc.jetstream();
    js.create_stream(
        StreamConfig::new("T")
            .subjects(["t.>"])
            .storage(StorageType::Memory),
    )
    .unwrap();
    js.publish("t.a", "sync").unwrap();
    for _ in 0..100 {
        js.publish_async("t.a", "async").unwrap();
    }
    js.wait_for_acks(WAIT).unwrap();
    let con = js
        .create_consumer("T", ConsumerConfig::durable("c"))
        .unwrap();
    let fetched = con
        .fetch(FetchOptions::new(10).expires(Duration::from_millis(200)))
        .unwrap()
        .count();
    assert_eq!(fetched, 10);
    let mut msgs = con.messages(ConsumeOptions::new()).unwrap();
    msgs.next_timeout(WAIT).unwrap().ack().unwrap();
    let mut ordered = js
        .ordered_consumer("T", OrderedConsumerConfig::new())
        .unwrap()
        .messages(ConsumeOptions::new())
        .unwrap();
    ordered.next_timeout(WAIT).unwrap();
    let mut push = js
        .create_push_consumer("T", ConsumerConfig::durable("p"))
        .unwrap();
    push.next_timeout(WAIT).unwrap();
    assert_eq!(threads(), before, "JetStream must not start threads");
}
