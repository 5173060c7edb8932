//! A walk through natsws: publish, subscribe, queue groups, headers, request/reply and drain,
//! between a connection over TCP and one over WebSocket, printing what happens.
//!
//! Usage: `cargo run --example tour [-- URL [URL2]]`
//!
//! Without a URL it starts a local `nats-server` (through `natsws::test_server`; run it as
//! `scripts/ensure-nats-server cargo run --example tour` to have one installed) with a TCP port
//! and a plain WebSocket listener, and connects once over each. With one URL both connections
//! go to that server; with two, the first connection uses URL and the second URL2, e.g.
//! `cargo run --example tour -- nats://127.0.0.1:4222 ws://127.0.0.1:8080`.
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use natsws::test_server::NatsServer;
use natsws::{Connection, ErrorKind, Event, Headers, Options, RequestManyOptions};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// How long the tour waits for any one message before it calls it missing.
const WAIT: Duration = Duration::from_secs(3);

/// A connection with the name the tour calls it by ("tcp", "ws", ...).
struct Side {
    name: String,
    nc: Connection,
}

fn main() -> ExitCode {
    let urls: Option<Vec<String>> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect();
    let Some(urls) = urls.filter(|u| u.len() <= 2) else {
        eprintln!("usage: tour [URL [URL2]]");
        return ExitCode::from(2);
    };
    match run(&urls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(urls: &[String]) -> Res<()> {
    // The server lives until the end of `run`; dropping it stops the process.
    let mut _server = None;
    let (url_a, url_b) = match urls {
        [] => {
            let server = NatsServer::start()?;
            let tcp = server.tcp_url();
            let ws = server
                .ws_url()
                .ok_or("the test server has no WebSocket listener")?;
            say(format!(
                "started a local nats-server (pid {}): tcp at {tcp}, websocket at {ws}",
                server.pid()
            ));
            _server = Some(server);
            (tcp, ws)
        }
        [one] => (one.clone(), one.clone()),
        [a, b, ..] => (a.clone(), b.clone()),
    };

    let (name_a, name_b) = names(&url_a, &url_b);
    let a = connect(name_a, &url_a)?;
    let b = connect(name_b, &url_b)?;
    let info = a.nc.server_info();
    say(format!(
        "the server is nats-server {} (max payload {} bytes, headers {})",
        info.version,
        info.max_payload,
        if info.headers {
            "supported"
        } else {
            "not supported"
        }
    ));

    publish_subscribe(&a, &b, "greet.joe")?;
    publish_subscribe(&b, &a, "greet.ann")?;
    queue_groups(&a, &b)?;
    headers(&a, &b)?;
    request_reply(&a, &b)?;
    drain(&a, &b)?;

    let s = a.nc.stats();
    a.nc.close()?;
    say(format!(
        "closed the {} connection after sending {} and receiving {} messages; the tour is over",
        a.name, s.out_msgs, s.in_msgs
    ));
    Ok(())
}

/// Names the two connections by transport, and tells them apart when both use the same one.
fn names(url_a: &str, url_b: &str) -> (String, String) {
    let scheme = |u: &str| match u.split_once("://") {
        Some((s, _)) => match s.to_ascii_lowercase().as_str() {
            "nats" => "tcp".to_string(),
            other => other.to_string(),
        },
        None => "tcp".to_string(),
    };
    let (a, b) = (scheme(url_a), scheme(url_b));
    if a == b {
        (format!("{a} #1"), format!("{b} #2"))
    } else {
        (a, b)
    }
}

fn connect(name: String, url: &str) -> Res<Side> {
    let mut opts = Options::new().name(format!("natsws tour ({name})"));
    if let Some(ca) = std::env::var_os("NATS_CA").filter(|p| !p.is_empty()) {
        opts = opts.add_root_certificate(ca);
    }
    let nc = opts.connect(url)?;
    let rtt = nc.rtt()?;
    // Events are queued in the background; the first one is the connection itself.
    let first = nc.events().try_recv().ok();
    let event = match first {
        Some(Event::Connected { url }) => format!(" (event: connected to {url})"),
        _ => String::new(),
    };
    say(format!(
        "connected over {name} to {url}: round trip {:.2} ms{event}",
        rtt.as_secs_f64() * 1e3
    ));
    Ok(Side { name, nc })
}

fn publish_subscribe(from: &Side, to: &Side, subject: &str) -> Res<()> {
    let sub = to.nc.subscribe("greet.*")?;
    // The subscriber's round trip makes sure the server knows the subscription before the
    // other connection publishes.
    to.nc.flush()?;
    from.nc.publish(subject, "hello")?;
    let msg = sub.next_timeout(WAIT)?;
    say(format!(
        "published 'hello' to {subject} over {}; the {} subscriber to 'greet.*' got '{}' on {}",
        from.name,
        to.name,
        String::from_utf8_lossy(&msg.payload),
        msg.subject
    ));
    Ok(())
}

fn queue_groups(a: &Side, b: &Side) -> Res<()> {
    const JOBS: usize = 12;
    let members = [
        (
            format!("{} worker 1", a.name),
            a.nc.queue_subscribe("jobs", "workers")?,
        ),
        (
            format!("{} worker 2", a.name),
            a.nc.queue_subscribe("jobs", "workers")?,
        ),
        (
            format!("{} worker 3", b.name),
            b.nc.queue_subscribe("jobs", "workers")?,
        ),
    ];
    let watcher = b.nc.subscribe("jobs")?;
    a.nc.flush()?;
    b.nc.flush()?;
    for i in 1..=JOBS {
        a.nc.publish("jobs", format!("job {i}"))?;
    }
    a.nc.flush()?;

    let mut watched = 0;
    while watched < JOBS {
        watcher.next_timeout(WAIT)?;
        watched += 1;
    }
    // Each job goes to exactly one member of the group. After a round trip on each
    // connection, every job the server handed to a member is queued at that member.
    a.nc.flush()?;
    b.nc.flush()?;
    let mut got = [0usize; 3];
    for (i, (_, sub)) in members.iter().enumerate() {
        got[i] = sub.try_iter().count();
    }
    let total: usize = got.iter().sum();
    if total != JOBS {
        return Err(format!("the queue group got {total} of {JOBS} jobs").into());
    }
    let split: Vec<String> = members
        .iter()
        .zip(got)
        .map(|((name, _), n)| format!("{name} took {n}"))
        .collect();
    say(format!(
        "published {JOBS} jobs over {} to 'jobs'; the queue group 'workers' shared them, each \
         job to one member ({}), while a plain subscriber over {} saw all {watched}",
        a.name,
        split.join(", "),
        b.name
    ));
    Ok(())
}

fn headers(a: &Side, b: &Side) -> Res<()> {
    let sub = a.nc.subscribe("orders.new")?;
    a.nc.flush()?;
    let mut h = Headers::new();
    h.insert("Order-Id", "42");
    h.append("Tag", "fruit");
    h.append("Tag", "urgent");
    b.nc.publish_with_headers("orders.new", &h, "2 apples")?;
    let msg = sub.next_timeout(WAIT)?;
    let got = msg.headers.unwrap_or_default();
    let tags: Vec<&str> = got.get_all("tag").collect();
    say(format!(
        "published '2 apples' with headers over {} to orders.new; the {} subscriber read \
         Order-Id = {} and Tag = {} (names match case-insensitively, repeated values are kept)",
        b.name,
        a.name,
        got.get("order-id").unwrap_or("(missing)"),
        tags.join(" and ")
    ));
    Ok(())
}

fn request_reply(a: &Side, b: &Side) -> Res<()> {
    // A responder on its own thread: doubles the number it is sent.
    let doubler = a.nc.subscribe("math.double")?;
    let census_a = a.nc.subscribe("census")?;
    let census_b = b.nc.subscribe("census")?;
    a.nc.flush()?;
    b.nc.flush()?;
    let responder = thread::spawn(move || {
        for req in doubler.iter() {
            let text = String::from_utf8_lossy(&req.payload).trim().to_string();
            let answer = match text.parse::<i64>() {
                Ok(n) => n.saturating_mul(2).to_string(),
                Err(_) => format!("'{text}' is not a number"),
            };
            if req.respond(answer).is_err() {
                break;
            }
        }
    });

    let reply = b.nc.request("math.double", "21")?;
    say(format!(
        "requested math.double with '21' over {}; the responder on {} answered '{}'",
        b.name,
        a.name,
        String::from_utf8_lossy(&reply.payload)
    ));

    match b.nc.request("nobody.home", "anyone?") {
        Err(e) if e.kind() == ErrorKind::NoResponders => say(format!(
            "requested nobody.home over {}: it failed at once with NoResponders ({e})",
            b.name
        )),
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("nobody.home got a reply".into()),
    }

    // A subscriber that never answers: the request times out.
    let silent = a.nc.subscribe("silent")?;
    a.nc.flush()?;
    let t0 = Instant::now();
    match b
        .nc
        .request_timeout("silent", "hello?", Duration::from_millis(200))
    {
        Err(e) if e.kind() == ErrorKind::Timeout => say(format!(
            "requested 'silent' over {} (someone listens, nobody answers): Timeout after {} ms",
            b.name,
            t0.elapsed().as_millis()
        )),
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("'silent' answered".into()),
    }
    drop(silent);

    // Many replies to one request: one responder on each connection.
    let answer = |sub: natsws::Subscription, who: String| {
        thread::spawn(move || {
            if let Ok(req) = sub.next_timeout(WAIT) {
                let _ = req.respond(format!("{who} is here"));
            }
        })
    };
    let ta = answer(census_a, a.name.clone());
    let tb = answer(census_b, b.name.clone());
    let opts = RequestManyOptions::new()
        .max_messages(2)
        .max_wait(Duration::from_secs(2));
    let mut replies = Vec::new();
    for r in a.nc.request_many("census", "who is there?", opts)? {
        replies.push(String::from_utf8_lossy(&r?.payload).into_owned());
    }
    let _ = (ta.join(), tb.join());
    replies.sort();
    say(format!(
        "request_many on 'census' over {} collected {} replies: {}",
        a.name,
        replies.len(),
        replies.join("; ")
    ));
    // The doubler thread ends when its connection closes.
    drop(responder);
    Ok(())
}

fn drain(a: &Side, b: &Side) -> Res<()> {
    let sub = b.nc.subscribe("news")?;
    b.nc.flush()?;
    for i in 1..=3 {
        a.nc.publish("news", format!("item {i}"))?;
    }
    a.nc.flush()?;
    // Drain: unsubscribe everything, let what is already on its way arrive, flush, close.
    b.nc.drain()?;
    let items: Vec<String> = sub
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    let closed =
        b.nc.events()
            .try_iter()
            .any(|e| matches!(e, Event::Closed { .. }));
    say(format!(
        "published 3 items to 'news' over {} and drained the {} connection: its subscription \
         still yielded {} ({}), then ended; state {:?}{}",
        a.name,
        b.name,
        items.len(),
        items.join(", "),
        b.nc.state(),
        if closed { ", with a Closed event" } else { "" }
    ));
    Ok(())
}

/// Prints one line of the tour (a closed stdout is not worth failing over).
fn say(line: String) {
    let _ = writeln!(std::io::stdout(), "- {line}");
}
