//! `req` and `reply`.

use std::io;
use std::time::{Duration, Instant};

use clap::Args;
use natsws::{ErrorKind, RequestManyOptions};

use crate::connect::ConnectArgs;
use crate::util::{body_or_stdin, headers_of, parse_header, print_message};

/// `natsws req SUBJECT [BODY]`
#[derive(Args)]
#[command(
    after_help = "Waits --timeout (a global option, 5s by default) for the reply. With \
--replies N it collects up to N replies (0: all that come within --timeout)."
)]
pub struct ReqArgs {
    /// Subject to send the request to
    subject: String,
    /// Request body (standard input when absent and not a terminal)
    body: Option<String>,
    /// Header to add, NAME:VALUE (repeatable)
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "NAME:VALUE")]
    headers: Vec<(String, String)>,
    /// Wait for this many replies; 0 waits for all until --timeout
    #[arg(long, default_value_t = 1)]
    replies: usize,
    /// Print only the payloads
    #[arg(short, long)]
    raw: bool,
}

pub fn request(conn: &ConnectArgs, a: ReqArgs) -> crate::Result {
    let body = body_or_stdin(a.body)?;
    let headers = headers_of(&a.headers);
    let nc = conn.connect()?;
    let mut out = io::stdout().lock();
    let started = Instant::now();
    if a.replies == 1 {
        let reply = match &headers {
            Some(h) => nc.request_with_headers(&a.subject, h, &body)?,
            None => nc.request_timeout(&a.subject, &body, conn.timeout)?,
        };
        let title = format!("Received with rtt {:?}", started.elapsed());
        print_message(&mut out, &title, &reply, a.raw)?;
        return Ok(nc.close()?);
    }
    let mut opts = RequestManyOptions::new().max_wait(conn.timeout);
    if a.replies > 0 {
        opts = opts.max_messages(a.replies);
    }
    if let Some(h) = headers {
        opts = opts.headers(h);
    }
    let mut n = 0;
    for reply in nc.request_many(&a.subject, &body, opts)? {
        let reply = reply?;
        n += 1;
        let title = format!("[#{n}] Received with rtt {:?}", started.elapsed());
        print_message(&mut out, &title, &reply, a.raw)?;
    }
    if n == 0 {
        return Err(format!("no reply on \"{}\" within {:?}", a.subject, conn.timeout).into());
    }
    if a.replies > 0 && n < a.replies {
        eprintln!(
            "natsws: {n} of {} replies within {:?}",
            a.replies, conn.timeout
        );
    }
    Ok(nc.close()?)
}

/// `natsws reply SUBJECT [BODY]`
#[derive(Args)]
pub struct ReplyArgs {
    /// Subject to answer on
    subject: String,
    /// Body of every answer
    body: Option<String>,
    /// Answer with the request's own body and headers instead
    #[arg(long, conflicts_with = "body")]
    echo: bool,
    /// Queue group to answer in (instances share the requests)
    #[arg(long, default_value = "NATS-RPLY-22")]
    queue: String,
    /// Exit after answering this many requests
    #[arg(long)]
    count: Option<u64>,
    /// Header to add to every answer, NAME:VALUE (repeatable)
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "NAME:VALUE")]
    headers: Vec<(String, String)>,
}

pub fn reply(conn: &ConnectArgs, a: ReplyArgs) -> crate::Result {
    let body = a.body.unwrap_or_default();
    let headers = headers_of(&a.headers);
    let nc = conn.connect()?;
    let sub = nc.queue_subscribe(&a.subject, &a.queue)?;
    nc.flush_timeout(conn.timeout)?;
    eprintln!("Listening on \"{}\" in group \"{}\"", a.subject, a.queue);
    let mut out = io::stdout().lock();
    let mut n = 0u64;
    loop {
        let req = match sub.next_timeout(Duration::from_secs(3600)) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::Timeout => continue,
            Err(e) if e.kind() == ErrorKind::SlowConsumer => {
                eprintln!("natsws: warning: {e}");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        n += 1;
        print_message(
            &mut out,
            &format!("[#{n}] Received on \"{}\"", req.subject),
            &req,
            false,
        )?;
        if req.reply.is_none() {
            eprintln!("natsws: message #{n} has no reply subject; not answered");
        } else if a.echo {
            match &req.headers {
                Some(h) => req.respond_with_headers(h, &req.payload)?,
                None => req.respond(&req.payload)?,
            }
        } else {
            match &headers {
                Some(h) => req.respond_with_headers(h, &body)?,
                None => req.respond(&body)?,
            }
        }
        if a.count == Some(n) {
            return Ok(nc.close()?);
        }
    }
}
