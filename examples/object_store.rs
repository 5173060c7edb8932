//! Object Store in a few steps: a bucket, an object streamed in from a reader and back out
//! (its SHA-256 checked at the end), metadata, a link, a watcher with its marker, listing
//! and deleting.
//!
//! Usage: `cargo run --example object_store [-- URL]`
//!
//! Without a URL it starts a local `nats-server` with JetStream (through
//! `natsws::test_server`; `scripts/ensure-nats-server cargo run --example object_store`
//! installs one). With a URL, the server must have JetStream enabled; the example creates
//! and then deletes the bucket `example_files`. CI runs it.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use natsws::jetstream::StorageType;
use natsws::object_store::{Config, ObjectMeta, ObjectWatchEvent};
use natsws::test_server::NatsServer;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 1 {
        eprintln!("usage: object_store [URL]");
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

/// A "firmware image": `len` bytes made as they are read, never held whole.
struct Image {
    left: usize,
}

impl Read for Image {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left);
        buf[..n].fill(0xA5);
        self.left -= n;
        Ok(n)
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
    let bucket = "example_files";
    let store = js.create_object_store(
        Config::new(bucket)
            .description("firmware images")
            .storage(StorageType::Memory),
    )?;

    // A watcher started before the put sees it after its (here immediate) marker.
    let mut watcher = store.watch()?;
    if watcher.next_timeout(Duration::from_secs(5))? != ObjectWatchEvent::InitialDone {
        return Err("an empty bucket's watcher starts with the marker".into());
    }

    // 5 MiB from a reader, in 128 KiB chunks whose acks are pipelined.
    let meta = ObjectMeta::new("pump-fw-1.2.bin")
        .description("pump firmware")
        .metadata(HashMap::from([("version".into(), "1.2".into())]));
    let info = store.put(meta, &mut Image { left: 5 << 20 })?;
    println!(
        "stored {}: {} bytes in {} chunks, {}",
        info.name,
        info.size,
        info.chunks,
        info.digest.as_deref().unwrap_or("")
    );
    if let ObjectWatchEvent::Info(i) = watcher.next_timeout(Duration::from_secs(5))? {
        println!("watch: {} ({} bytes)", i.name, i.size);
    }

    // Read it back as a stream; the digest is checked when the end is reached.
    let mut reader = store.get("pump-fw-1.2.bin")?;
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0xA5) {
            return Err("unexpected bytes".into());
        }
        total += n;
    }
    println!("read back {total} bytes, digest verified");

    // A link under a stable name, small objects from bytes, a listing.
    store.add_link("pump-fw-latest.bin", &info)?;
    println!(
        "through the link: {} bytes",
        store.get("pump-fw-latest.bin")?.info().size
    );
    store.put_bytes("notes.txt", "flash at night")?;
    let names: Vec<String> = store
        .list()?
        .map(|i| i.map(|i| i.name))
        .collect::<Result<_, _>>()?;
    println!("objects: {names:?}");

    store.delete("notes.txt")?;
    println!("bucket holds {} bytes", store.status()?.size());
    js.delete_object_store(bucket)?;
    nc.close()?;
    Ok(())
}
