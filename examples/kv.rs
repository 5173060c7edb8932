//! Key-Value in a few steps: a bucket with history, put/get, create and update at a
//! revision, delete and purge, keys and history, and a watcher with its end-of-initial-data
//! marker.
//!
//! Usage: `cargo run --example kv [-- URL]`
//!
//! Without a URL it starts a local `nats-server` with JetStream (through
//! `natsws::test_server`; `scripts/ensure-nats-server cargo run --example kv` installs one).
//! With a URL, the server must have JetStream enabled; the example creates and then deletes
//! the bucket `example_settings`. CI runs it.

use std::process::ExitCode;
use std::time::Duration;

use natsws::jetstream::StorageType;
use natsws::kv::{Config, WatchEvent};
use natsws::test_server::NatsServer;
use natsws::ErrorKind;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 1 {
        eprintln!("usage: kv [URL]");
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

    let bucket = "example_settings";
    let kv = js.create_key_value(Config::new(bucket).history(5).storage(StorageType::Memory))?;

    // Put and get; the revision is the stream sequence.
    let rev = kv.put("device.mode", "eco")?;
    let e = kv.get("device.mode")?;
    println!("{} = {:?} at revision {}", e.key, e.value, e.revision);

    // Optimistic concurrency: update only at the revision we read.
    let rev = kv.update("device.mode", "boost", rev)?;
    match kv.update("device.mode", "late", rev - 1) {
        Err(e) if e.kind() == ErrorKind::WrongLastSequence => println!("stale update refused"),
        other => return Err(format!("a stale update should fail: {other:?}").into()),
    }
    // Create only when the key has no value.
    kv.create("device.name", "pump-7")?;
    if kv.create("device.name", "other").map_err(|e| e.kind()) != Err(ErrorKind::KeyExists) {
        return Err("create over a value should fail".into());
    }

    // A watcher: the current values, the marker, then changes as they happen.
    let mut watcher = kv.watch("device.>")?;
    loop {
        match watcher.next_timeout(Duration::from_secs(5))? {
            WatchEvent::Entry(e) => println!("watch: {} = {:?}", e.key, e.value),
            WatchEvent::InitialDone => break,
            _ => {}
        }
    }
    kv.delete("device.name")?;
    if let WatchEvent::Entry(e) = watcher.next_timeout(Duration::from_secs(5))? {
        println!(
            "watch: {} {:?} at revision {}",
            e.key, e.operation, e.revision
        );
    }

    println!("keys: {:?}", kv.keys()?);
    let history: Vec<_> = kv
        .history("device.mode")?
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.value).into_owned())
        .collect();
    println!("history of device.mode: {history:?}");

    // Purge: one marker replaces the key's history.
    kv.purge("device.mode")?;
    println!("after purge: {} stored", kv.status()?.values());
    if !kv.keys()?.is_empty() {
        return Err("no keys should be left".into());
    }

    js.delete_key_value(bucket)?;
    nc.close()?;
    Ok(())
}
