//! At trace level every protocol line in and out is logged, with CONNECT's secrets redacted.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use natsws::test_server::NatsServer;

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("natsws")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static C: OnceLock<&'static Capture> = OnceLock::new();
    C.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

#[test]
fn every_line_in_and_out_is_traced_and_secrets_are_not() {
    let cap = capture();
    let server = NatsServer::builder()
        .config("authorization { user: tracer, password: pw-s3cret }")
        .start()
        .unwrap();
    let url = server
        .tcp_url()
        .replace("nats://", "nats://tracer:pw-s3cret@");
    let nc = natsws::connect(url.as_str()).unwrap();
    let sub = nc.subscribe("trace.me").unwrap();
    nc.publish("trace.me", "payload-not-logged").unwrap();
    sub.next_timeout(Duration::from_secs(5)).unwrap();
    nc.close().unwrap();
    let lines = cap.0.lock().unwrap().clone();
    for want in [
        "<<- INFO {",
        "->> CONNECT",
        "->> PING",
        "<<- PONG",
        "->> SUB trace.me",
        "->> PUB trace.me 18",
        "<<- MSG trace.me",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "no line starting with {want:?} in {lines:#?}"
        );
    }
    let all = lines.join("\n");
    assert!(!all.contains("pw-s3cret"), "a secret was logged");
    assert!(!all.contains("payload-not-logged"), "a payload was logged");
}
