//! JetStream in a few steps: a stream, publishes with acks (waited and pipelined), a durable
//! pull consumer read by fetch and by continuous consumption, and an ordered consumer.
//!
//! Usage: `cargo run --example jetstream [-- URL]`
//!
//! Without a URL it starts a local `nats-server` with JetStream (through
//! `natsws::test_server`; `scripts/ensure-nats-server cargo run --example jetstream` installs
//! one). With a URL, the server must have JetStream enabled; the example creates and then
//! deletes the stream `EXAMPLE_ORDERS`. CI runs it.

use std::process::ExitCode;
use std::time::Duration;

use natsws::jetstream::{
    ConsumeOptions, ConsumerConfig, FetchOptions, OrderedConsumerConfig, PublishOptions,
    StorageType, StreamConfig,
};
use natsws::test_server::NatsServer;
use natsws::ErrorKind;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 1 {
        eprintln!("usage: jetstream [URL]");
        return ExitCode::from(2);
    }
    match run(args.first().cloned()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: Option<String>) -> Res<()> {
    // A local server with JetStream unless a URL was given (kept alive until the end).
    let (_server, url) = match url {
        Some(u) => (None, u),
        None => {
            let s = NatsServer::builder().jetstream(true).start()?;
            let u = s.tcp_url();
            (Some(s), u)
        }
    };
    let nc = natsws::connect(url.as_str())?;
    let js = nc.jetstream();
    println!("JetStream API level {}", js.account_info()?.api.level);

    // A stream capturing `example.orders.>`, in memory.
    let name = "EXAMPLE_ORDERS";
    let mut stream = js.create_stream(
        StreamConfig::new(name)
            .subjects(["example.orders.>"])
            .storage(StorageType::Memory),
    )?;

    // Publish and wait for the ack; a message id makes a resend harmless.
    let ack = js.publish("example.orders.new", "order 1")?;
    println!("stored in {} at sequence {}", ack.stream, ack.sequence);
    let opts = PublishOptions::new().msg_id("order-2");
    js.publish_with("example.orders.new", "order 2", &opts)?;
    let again = js.publish_with("example.orders.new", "order 2", &opts)?;
    println!("the resend was a duplicate: {}", again.duplicate);

    // Pipelined: many publishes in flight, then wait for every ack.
    for i in 3..=100 {
        js.publish_async("example.orders.new", format!("order {i}"))?;
    }
    js.wait_for_acks(Duration::from_secs(5))?;
    println!("{} messages stored", stream.info()?.state.messages);

    // A durable pull consumer: fetch a batch, ack each message.
    let consumer = stream.create_consumer(ConsumerConfig::durable("example-worker"))?;
    let batch = consumer.fetch(FetchOptions::new(10).expires(Duration::from_secs(1)))?;
    let mut fetched = 0;
    for msg in batch {
        let msg = msg?;
        msg.ack()?;
        fetched += 1;
    }
    println!("fetched and acked {fetched}");

    // Continuous consumption: pulls happen as the iterator is read.
    let mut messages = consumer.messages(ConsumeOptions::new().max_messages(50))?;
    let mut consumed = 0;
    loop {
        match messages.next_timeout(Duration::from_millis(500)) {
            Ok(msg) => {
                msg.ack()?;
                consumed += 1;
            }
            Err(e) if e.kind() == ErrorKind::Timeout => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("consumed and acked {consumed} more");

    // An ordered consumer replays everything, in order, without acks.
    let ordered = js.ordered_consumer(name, OrderedConsumerConfig::new())?;
    let mut replay = ordered.messages(ConsumeOptions::new())?;
    let mut last = String::new();
    for _ in 0..100 {
        let msg = replay.next_timeout(Duration::from_secs(5))?;
        last = String::from_utf8_lossy(msg.payload()).into_owned();
    }
    println!("replayed 100 in order, the last: {last}");
    if fetched + consumed != 100 || last != "order 100" {
        return Err("unexpected counts".into());
    }

    js.delete_stream(name)?;
    nc.close()?;
    Ok(())
}
