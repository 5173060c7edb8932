//! Subscribes to a subject and prints each message's payload on its own line.
//!
//! Usage: `cargo run --example sub -- <url> <subject> [count]`
//!
//! Exits after `count` messages, or runs until interrupted without it. Payloads are printed as
//! UTF-8 (invalid bytes become U+FFFD). Wildcards work: `greet.*`, `greet.>`.
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.
//!
//! Example: `cargo run --example sub -- nats://127.0.0.1:4222 'greet.>' 3`

mod common;

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: sub <url> <subject> [count]";

fn main() -> ExitCode {
    let Some(args) = common::utf8_args() else {
        eprintln!("error: the arguments must be valid UTF-8\n{USAGE}");
        return ExitCode::from(2);
    };
    let (url, subject, count) = match args.as_slice() {
        [url, subject] => (url, subject, None),
        [url, subject, n] => match n.parse::<u64>() {
            Ok(n) => (url, subject, Some(n)),
            Err(_) => {
                eprintln!("error: count must be a whole number, not '{n}'\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(url, subject, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, subject: &str, count: Option<u64>) -> Result<(), Box<dyn std::error::Error>> {
    let nc = common::options().connect(url)?;
    let sub = nc.subscribe(subject)?;
    // The round trip makes sure the server has registered the subscription before we say so.
    nc.flush()?;
    eprintln!("listening on '{subject}' at {url}");
    if count == Some(0) {
        return Ok(nc.close()?);
    }
    let mut out = std::io::stdout().lock();
    let mut seen = 0u64;
    // The iterator blocks for the next message; it ends only if the connection closes.
    for msg in sub.iter() {
        // A write error (e.g. the reader of a pipe went away) ends the program cleanly.
        writeln!(out, "{}", String::from_utf8_lossy(&msg.payload))?;
        out.flush()?;
        seen += 1;
        if count == Some(seen) {
            return Ok(nc.close()?);
        }
    }
    Err(match nc.close_reason() {
        Some(e) => Box::new(e),
        None => "the connection closed".into(),
    })
}
