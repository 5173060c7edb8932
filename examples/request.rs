//! Sends one request and prints the reply's payload.
//!
//! Usage: `cargo run --example request -- <url> <subject> <text>`
//!
//! Waits up to 5 seconds for a reply. Exits with code 1 and a message on stderr when nobody
//! listens on the subject (no responders) or no reply comes in time.
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.
//!
//! Example (with `reply` running): `cargo run --example request -- ws://127.0.0.1:8080 time.now ?`

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: request <url> <subject> <text>";
const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let Some(args) = utf8_args() else {
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
    let nc = options().connect(url)?;
    let reply = nc.request_timeout(subject, text, TIMEOUT)?;
    writeln!(
        std::io::stdout(),
        "{}",
        String::from_utf8_lossy(&reply.payload)
    )?;
    Ok(nc.close()?)
}

/// Default options, plus the CA in `$NATS_CA` if set.
fn options() -> natsws::Options {
    let opts = natsws::Options::new();
    match std::env::var_os("NATS_CA") {
        Some(path) if !path.is_empty() => opts.add_root_certificate(path),
        _ => opts,
    }
}

/// The command-line arguments after the program name; `None` if one is not valid UTF-8.
fn utf8_args() -> Option<Vec<String>> {
    std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect()
}
