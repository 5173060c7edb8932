//! Publishes one message, waits until the server has it, and exits.
//!
//! Usage: `cargo run --example pub -- <url> <subject> <text>`
//!
//! `<url>` is `nats://`, `tls://`, `ws://` or `wss://` (a bare `host:port` means `nats://`).
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.
//!
//! Example: `cargo run --example pub -- ws://127.0.0.1:8080 greet.joe hello`

mod common;

use std::process::ExitCode;

const USAGE: &str = "usage: pub <url> <subject> <text>";

fn main() -> ExitCode {
    let Some(args) = common::utf8_args() else {
        eprintln!("error: the arguments must be valid UTF-8\n{USAGE}");
        return ExitCode::from(2);
    };
    let [url, subject, text] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(url, subject, text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, subject: &str, text: &str) -> natsws::Result<()> {
    let nc = common::options().connect(url)?;
    nc.publish(subject, text)?;
    // `publish` only queues the message; the flush is a PING/PONG round trip, so when it
    // returns the server has processed the message.
    nc.flush()?;
    eprintln!("published {} bytes to '{subject}'", text.len());
    nc.close()
}
