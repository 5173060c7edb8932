//! `bench`: publish and subscribe throughput, a small `nats bench`.

use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;

use crate::connect::ConnectArgs;
use crate::util::parse_size;

/// `natsws bench [SUBJECT]`
#[derive(Args)]
#[command(
    after_help = "Every subscriber (its own connection) receives all --msgs messages; \
the publishers (each on its own connection) share them. A subscriber that waits longer than \
--timeout for the next message fails the run."
)]
pub struct BenchArgs {
    /// Subject to publish and subscribe on
    #[arg(default_value = "natsws.bench")]
    subject: String,
    /// Number of messages to publish
    #[arg(long, default_value_t = 100_000)]
    msgs: u64,
    /// Payload size in bytes (K, M suffixes allowed)
    #[arg(long, default_value = "128", value_parser = parse_size)]
    size: i64,
    /// Number of concurrent publishers
    #[arg(long = "pub", default_value_t = 1)]
    publishers: u64,
    /// Number of concurrent subscribers
    #[arg(long = "sub", default_value_t = 0)]
    subscribers: u64,
}

/// What one client did: how many messages, in how long.
struct Sample {
    msgs: u64,
    took: Duration,
}

pub fn run(conn: &ConnectArgs, a: BenchArgs) -> crate::Result {
    let size = usize::try_from(a.size).map_err(|_| "--size must not be negative")?;
    if a.publishers == 0 && a.subscribers == 0 {
        return Err("nothing to do: --pub and --sub are both 0".into());
    }
    let payload: Arc<[u8]> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let start = Arc::new(Barrier::new((a.publishers + a.subscribers + 1) as usize));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut subs = Vec::new();
    for _ in 0..a.subscribers {
        // Pending limits that hold the whole run: a benchmark must not drop messages.
        let limit = usize::try_from(a.msgs)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let nc = conn.connect_with(conn.options().pending_limits(limit, 0))?;
        let (subject, start, ready, msgs, idle) = (
            a.subject.clone(),
            start.clone(),
            ready_tx.clone(),
            a.msgs,
            conn.timeout,
        );
        subs.push(thread::spawn(move || -> Result<Sample, String> {
            let sub = nc.subscribe(&subject).and_then(|s| nc.flush().map(|_| s));
            let sub = match sub {
                Ok(s) => {
                    let _ = ready.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return Err(e.to_string());
                }
            };
            start.wait();
            let t0 = Instant::now();
            for got in 0..msgs {
                sub.next_timeout(idle)
                    .map_err(|e| format!("received {got} of {msgs}: {e}"))?;
            }
            Ok(Sample {
                msgs,
                took: t0.elapsed(),
            })
        }));
    }
    for _ in 0..a.subscribers {
        let ready = ready_rx.recv().map_err(|_| "a subscriber quit")?;
        ready.map_err(|e| format!("a subscriber failed: {e}"))?;
    }
    let mut pubs = Vec::new();
    for i in 0..a.publishers {
        let share = a.msgs / a.publishers + u64::from(i < a.msgs % a.publishers);
        let nc = conn.connect()?;
        let (subject, start, payload, timeout) = (
            a.subject.clone(),
            start.clone(),
            payload.clone(),
            conn.timeout,
        );
        pubs.push(thread::spawn(move || -> Result<Sample, String> {
            start.wait();
            let t0 = Instant::now();
            for _ in 0..share {
                nc.publish(&subject, &payload[..])
                    .map_err(|e| e.to_string())?;
            }
            // The clock stops when the server has them all.
            nc.flush_timeout(timeout.max(Duration::from_secs(60)))
                .map_err(|e| e.to_string())?;
            Ok(Sample {
                msgs: share,
                took: t0.elapsed(),
            })
        }));
    }
    eprintln!(
        "Starting benchmark [msgs={}, msgsize={size}, pubs={}, subs={}]",
        a.msgs, a.publishers, a.subscribers
    );
    start.wait();
    report("Pub", pubs, size)?;
    report("Sub", subs, size)?;
    Ok(())
}

/// Joins the clients of one side and prints their aggregate and, when several, each one.
fn report(
    side: &str,
    clients: Vec<thread::JoinHandle<Result<Sample, String>>>,
    size: usize,
) -> crate::Result {
    if clients.is_empty() {
        return Ok(());
    }
    let mut samples = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let s = c
            .join()
            .map_err(|_| format!("{side} #{} panicked", i + 1))?
            .map_err(|e| format!("{side} #{}: {e}", i + 1))?;
        samples.push(s);
    }
    let total = Sample {
        msgs: samples.iter().map(|s| s.msgs).sum(),
        took: samples.iter().map(|s| s.took).max().unwrap_or_default(),
    };
    println!("{side} stats: {}", rate(&total, size));
    if samples.len() > 1 {
        for (i, s) in samples.iter().enumerate() {
            println!(" [{}] {}", i + 1, rate(s, size));
        }
    }
    Ok(())
}

/// `123,456 msgs/s ~ 15.80 MB/s (100000 msgs in 810ms)`.
fn rate(s: &Sample, size: usize) -> String {
    let secs = s.took.as_secs_f64().max(1e-9);
    let per_sec = s.msgs as f64 / secs;
    let mb = per_sec * size as f64 / 1e6;
    format!(
        "{per_sec:.0} msgs/s ~ {mb:.2} MB/s ({} msgs in {:?})",
        s.msgs, s.took
    )
}
