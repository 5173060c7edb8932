//! Measures what a queued message costs in memory: a subscriber that stops reading while a
//! burst of messages arrives.
//!
//! Usage: `cargo run --release --example queued_memory -- <url> [count] [size]`
//! (defaults: 1,000,000 messages of 128 bytes).
//!
//! The subscriber (this process) connects with no pending limits, subscribes and records its
//! resident memory (`VmRSS`). A child process (this program again, with `--publish`) publishes
//! the burst on its own connection, so its write buffers are not counted. Once every message
//! is queued, the peak resident memory (`VmHWM`) minus the baseline, divided by the messages
//! queued, is what one queued message holds. Prints one JSON line. Linux only (`/proc`).

mod common;

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const SUBJECT: &str = "queued.memory";

fn main() -> ExitCode {
    let Some(args) = common::utf8_args() else {
        eprintln!("error: the arguments must be valid UTF-8");
        return ExitCode::from(2);
    };
    let result = match args.as_slice() {
        [flag, url, count, size] if flag == "--publish" => publish(url, count, size),
        [url] => measure(url, 1_000_000, 128),
        [url, count] => parse(count).and_then(|c| measure(url, c, 128)),
        [url, count, size] => {
            parse(count).and_then(|c| parse(size).and_then(|s| measure(url, c, s)))
        }
        _ => Err("usage: queued_memory <url> [count] [size]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(s: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a whole number"))
}

/// `VmRSS` or `VmHWM` of this process, in bytes.
fn memory(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

fn measure(url: &str, count: usize, size: usize) -> Result<(), String> {
    let nc = common::options()
        .pending_limits(0, 0)
        .connect(url)
        .map_err(|e| e.to_string())?;
    let sub = nc.subscribe(SUBJECT).map_err(|e| e.to_string())?;
    nc.flush().map_err(|e| e.to_string())?;
    let baseline = memory("VmRSS:")?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new(exe)
        .args(["--publish", url, &count.to_string(), &size.to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the publisher failed: {status}"));
    }
    // The publisher flushed: every message is on its way; wait until all are queued here.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sub.pending().0 < count {
        if Instant::now() > deadline {
            return Err(format!("only {} of {count} queued", sub.pending().0));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak = memory("VmHWM:")?;
    let (queued, held) = sub.pending();
    let per_msg = peak.saturating_sub(baseline) as f64 / queued as f64;
    println!(
        "{{\"count\":{count},\"size\":{size},\"queued\":{queued},\"baseline_bytes\":{baseline},\
         \"peak_bytes\":{peak},\"per_message_bytes\":{per_msg:.1},\
         \"over_payload_bytes\":{:.1},\"pending_bytes_counted\":{held},\"dropped\":{}}}",
        per_msg - size as f64,
        sub.dropped()
    );
    Ok(())
}

fn publish(url: &str, count: &str, size: &str) -> Result<(), String> {
    let (count, size) = (parse(count)?, parse(size)?);
    let nc = common::options().connect(url).map_err(|e| e.to_string())?;
    let payload = vec![b'x'; size];
    for _ in 0..count {
        nc.publish(SUBJECT, &payload).map_err(|e| e.to_string())?;
    }
    nc.flush_timeout(Duration::from_secs(60))
        .map_err(|e| e.to_string())
}
