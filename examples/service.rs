//! A small service and a client that discovers and calls it (NATS services, ADR-32).
//!
//! Usage: `cargo run --example service [-- URL]`
//!
//! The service `temperature` converts Celsius to Fahrenheit and back on `temp.c2f` and
//! `temp.f2c`, and answers error 400 to something that is not a number. The client, on a
//! second connection, finds it with PING and INFO, calls both endpoints, provokes an error,
//! reads STATS, and stops the service. Exits non-zero if anything is not as expected.
//!
//! Without a URL it starts a local `nats-server` (through `natsws::test_server`; run it as
//! `scripts/ensure-nats-server cargo run --example service` to have one installed).
//! Set `NATS_CA=<pem file>` to trust a private CA for `tls://` and `wss://`.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use natsws::service::{Request, Service};
use natsws::test_server::NatsServer;
use natsws::Connection;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let Some(args) = common::utf8_args().filter(|a| a.len() <= 1) else {
        eprintln!("usage: service [URL]");
        return ExitCode::from(2);
    };
    match run(args.first().map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: Option<&str>) -> Res<()> {
    // The server lives until the end of `run`; dropping it stops the process.
    let mut _server = None;
    let url = match url {
        Some(u) => u.to_string(),
        None => {
            let server = NatsServer::start()?;
            let url = server.tcp_url();
            println!("started a local nats-server at {url}");
            _server = Some(server);
            url
        }
    };
    let svc = start_service(&common::options().connect(url.as_str())?)?;
    let nc = common::options().connect(url.as_str())?;
    use_service(&nc, &svc)?;
    svc.stop()?;
    println!(
        "stopped the service; PING by name now finds {} instance(s)",
        nc.services().client().ping_name("temperature")?.len()
    );
    Ok(())
}

/// The service side: two endpoints under the group `temp`, each on a thread of its own.
fn start_service(nc: &Connection) -> Res<Service> {
    let svc = nc
        .services()
        .builder("temperature", "1.0.0")
        .description("converts temperatures")
        .metadata([("unit", "degrees")])
        .start()?;
    let temp = svc.group("temp");
    temp.endpoint("c2f")
        .handler(|req| convert(req, |c| c * 9.0 / 5.0 + 32.0))?;
    temp.endpoint("f2c")
        .handler(|req| convert(req, |f| (f - 32.0) * 5.0 / 9.0))?;
    println!(
        "service {} {} started with id {}",
        svc.name(),
        svc.version(),
        svc.id()
    );
    Ok(svc)
}

fn convert(req: Request, f: impl Fn(f64) -> f64) {
    let answer = match std::str::from_utf8(req.payload())
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        Some(x) => req.respond(format!("{:.1}", f(x))),
        None => req.respond_error(400, "not a number", ""),
    };
    if let Err(e) = answer {
        eprintln!("could not answer: {e}");
    }
}

/// The client side: discover, call, read an error, read the stats.
fn use_service(nc: &Connection, svc: &Service) -> Res<()> {
    let client = nc.services().client();
    let found = client.ping_name("temperature")?;
    if found.len() != 1 || found[0].id != svc.id() {
        return Err(format!("PING found {found:?}").into());
    }
    let info = client.info_id("temperature", &found[0].id)?;
    println!("found '{}' ({}), endpoints:", info.name, info.description);
    for e in &info.endpoints {
        println!(
            "  {} on '{}' (queue group '{}')",
            e.name, e.subject, e.queue_group
        );
    }
    let boiling = nc.request_timeout("temp.c2f", "100", WAIT)?;
    let fever = nc.request_timeout("temp.f2c", "98.6", WAIT)?;
    println!(
        "100 °C = {} °F; 98.6 °F = {} °C",
        String::from_utf8_lossy(&boiling.payload),
        String::from_utf8_lossy(&fever.payload)
    );
    if &boiling.payload[..] != b"212.0" || &fever.payload[..] != b"37.0" {
        return Err("wrong conversions".into());
    }
    let bad = nc.request_timeout("temp.c2f", "warm", WAIT)?;
    match bad.service_error() {
        Some(e) => println!("asking for 'warm' got error {}: {}", e.code, e.description),
        None => return Err("'warm' should have been refused".into()),
    }
    let stats = client.stats_id("temperature", svc.id())?;
    for e in &stats.endpoints {
        println!(
            "  {}: {} request(s), {} error(s), last error '{}', average {:?}",
            e.name, e.num_requests, e.num_errors, e.last_error, e.average_processing_time
        );
    }
    let c2f = &stats.endpoints[0];
    if (c2f.num_requests, c2f.num_errors) != (2, 1) || c2f.last_error != "400:not a number" {
        return Err(format!("unexpected stats {c2f:?}").into());
    }
    Ok(())
}
