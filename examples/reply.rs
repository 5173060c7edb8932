//! Answers every request on a subject with the same text.
//!
//! Usage: `cargo run --example reply -- <url> <subject> <text> [count]`
//!
//! Exits after answering `count` requests, or runs until interrupted without it. Messages that
//! carry no reply subject (plain publishes) are reported on stderr and not counted.
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.
//!
//! Example: `cargo run --example reply -- nats://127.0.0.1:4222 time.now 'half past nine' 1`

mod common;

use std::process::ExitCode;

const USAGE: &str = "usage: reply <url> <subject> <text> [count]";

fn main() -> ExitCode {
    let Some(args) = common::utf8_args() else {
        eprintln!("error: the arguments must be valid UTF-8\n{USAGE}");
        return ExitCode::from(2);
    };
    let (url, subject, text, count) = match args.as_slice() {
        [url, subject, text] => (url, subject, text, None),
        [url, subject, text, n] => match n.parse::<u64>() {
            Ok(n) => (url, subject, text, Some(n)),
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
    match run(url, subject, text, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    url: &str,
    subject: &str,
    text: &str,
    count: Option<u64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let nc = common::options().connect(url)?;
    let sub = nc.subscribe(subject)?;
    nc.flush()?; // the server has registered the subscription: requests will reach us
    eprintln!("answering requests on '{subject}' at {url}");
    if count == Some(0) {
        return Ok(nc.close()?);
    }
    let mut answered = 0u64;
    for msg in sub.iter() {
        if msg.reply.is_none() {
            eprintln!(
                "ignoring a message on '{}' without a reply subject",
                msg.subject
            );
            continue;
        }
        msg.respond(text)?;
        answered += 1;
        if count == Some(answered) {
            // close() sends what is still queued (the last answer) before closing.
            return Ok(nc.close()?);
        }
    }
    Err(match nc.close_reason() {
        Some(e) => Box::new(e),
        None => "the connection closed".into(),
    })
}
