//! `pub` and `sub`.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use natsws::{ErrorKind, Message, SubscribeOptions};

use crate::connect::ConnectArgs;
use crate::util::{body_or_stdin, headers_of, parse_duration, parse_header, print_message};

/// `natsws pub SUBJECT [BODY]`
#[derive(Args)]
#[command(
    after_help = "The body and header values may hold {{Count}} (the message number, \
from 1), {{Unix}} and {{UnixNano}} (the time). Without BODY the body is read from standard \
input, unless it is a terminal."
)]
pub struct PubArgs {
    /// Subject to publish to
    subject: String,
    /// Message body
    body: Option<String>,
    /// Header to add, NAME:VALUE (repeatable)
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "NAME:VALUE")]
    headers: Vec<(String, String)>,
    /// Reply subject to send with the message
    #[arg(long)]
    reply: Option<String>,
    /// Publish this many messages
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Wait this long between messages
    #[arg(long, value_parser = parse_duration)]
    sleep: Option<Duration>,
}

/// Replaces the `{{Count}}`, `{{Unix}}` and `{{UnixNano}}` placeholders (also with nats's Go
/// template dot: `{{.Count}}`); a text without `{{` is returned as it is.
fn expand(template: &[u8], count: u64) -> Vec<u8> {
    if !template.windows(2).any(|w| w == b"{{") {
        return template.to_vec();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut s = String::from_utf8_lossy(template).into_owned();
    for (names, value) in [
        (["{{Count}}", "{{.Count}}"], count.to_string()),
        (["{{Unix}}", "{{.Unix}}"], now.as_secs().to_string()),
        (
            ["{{UnixNano}}", "{{.UnixNano}}"],
            now.as_nanos().to_string(),
        ),
    ] {
        for n in names {
            s = s.replace(n, &value);
        }
    }
    s.into_bytes()
}

pub fn publish(conn: &ConnectArgs, a: PubArgs) -> crate::Result {
    let body = body_or_stdin(a.body)?;
    let nc = conn.connect()?;
    let mut bytes = 0;
    for i in 1..=a.count {
        let payload = expand(&body, i);
        let mut msg = Message::new(a.subject.as_str(), payload);
        if let Some(r) = &a.reply {
            msg = msg.with_reply(r.as_str());
        }
        let pairs: Vec<_> = a
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    String::from_utf8_lossy(&expand(v.as_bytes(), i)).into_owned(),
                )
            })
            .collect();
        if let Some(h) = headers_of(&pairs) {
            msg = msg.with_headers(h);
        }
        nc.publish_message(&msg)?;
        bytes += msg.payload.len();
        if let Some(d) = a.sleep.filter(|_| i < a.count) {
            std::thread::sleep(d);
        }
    }
    // Publishing only queues; the flush is a PING/PONG round trip, so the server has them all.
    nc.flush_timeout(conn.timeout)?;
    if a.count == 1 {
        eprintln!("Published {bytes} bytes to \"{}\"", a.subject);
    } else {
        eprintln!(
            "Published {} messages ({bytes} bytes) to \"{}\"",
            a.count, a.subject
        );
    }
    Ok(nc.close()?)
}

/// `natsws sub SUBJECT`
#[derive(Args)]
pub struct SubArgs {
    /// Subject to subscribe to (wildcards allowed)
    subject: String,
    /// Join this queue group
    #[arg(long)]
    queue: Option<String>,
    /// Exit after this many messages
    #[arg(long)]
    count: Option<u64>,
    /// Print only the payloads
    #[arg(short, long)]
    raw: bool,
}

pub fn subscribe(conn: &ConnectArgs, a: SubArgs) -> crate::Result {
    let nc = conn.connect()?;
    let mut opts = SubscribeOptions::new();
    if let Some(q) = &a.queue {
        opts = opts.queue(q.as_str());
    }
    if let Some(n) = a.count {
        opts = opts.max(n);
    }
    let sub = nc.subscribe_with(&a.subject, opts)?;
    // Once the flush returns the server has the subscription: say so (scripts wait for it).
    nc.flush_timeout(conn.timeout)?;
    match &a.queue {
        Some(q) => eprintln!("Subscribing on \"{}\" in group \"{q}\"", a.subject),
        None => eprintln!("Subscribing on \"{}\"", a.subject),
    }
    let mut out = io::stdout().lock();
    let mut n = 0u64;
    loop {
        let msg = match sub.next_timeout(Duration::from_secs(3600)) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::Timeout => continue,
            Err(e) if e.kind() == ErrorKind::SlowConsumer => {
                eprintln!("natsws: warning: {e}");
                continue;
            }
            // The server refused the subscription, or the connection closed for good.
            Err(e) => return Err(e.into()),
        };
        n += 1;
        let title = match &msg.reply {
            Some(r) => format!("[#{n}] Received on \"{}\" with reply \"{r}\"", msg.subject),
            None => format!("[#{n}] Received on \"{}\"", msg.subject),
        };
        print_message(&mut out, &title, &msg, a.raw)?;
        if a.count == Some(n) {
            return Ok(nc.close()?);
        }
    }
}
