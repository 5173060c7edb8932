//! Sends one request and prints the reply's payload.
//!
//! Usage: `cargo run --example request -- <url> <subject> <text>`
//!
//! Waits up to 5 seconds for a reply. Exits with code 1 and a message on stderr when nobody
//! listens on the subject (no responders) or no reply comes in time.
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.
//!
//! Example (with `reply` running): `cargo run --example request -- ws://127.0.0.1:8080 time.now ?`

mod common;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: request <url> <subject> <text>";
const TIMEOUT: Duration = Duration::from_secs(5);

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
            // The text says which: "no responders: nobody is subscribed to '…'" or
            // "timed out: no reply on '…' within 5s". A program would match on
            // `natsws::Error::kind()` (ErrorKind::NoResponders, ErrorKind::Timeout) instead.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, subject: &str, text: &str) -> Result<(), Box<dyn std::error::Error>> {
    let nc = common::options().connect(url)?;
    let reply = nc.request_timeout(subject, text, TIMEOUT)?;
    writeln!(
        std::io::stdout(),
        "{}",
        String::from_utf8_lossy(&reply.payload)
    )?;
    Ok(nc.close()?)
}
