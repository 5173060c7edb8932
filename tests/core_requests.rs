//! Requests over every transport: request/reply, no responders, timeouts, and every
//! `request_many` stop strategy.

mod common;

use std::time::{Duration, Instant};

use common::*;
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind, Headers, RequestManyOptions};

each_transport!(
    request_reply,
    no_responders_is_fast,
    request_timeout,
    request_many_max_messages,
    request_many_max_wait,
    request_many_stall,
    request_many_sentinel,
    request_many_no_responders,
);

fn request_reply(t: Transport) {
    let c = Ctx::new(t);
    let rnc = c.connect();
    let r = responder(&rnc, "svc.upper", |m| {
        let up = String::from_utf8_lossy(&m.payload).to_uppercase();
        match &m.headers {
            Some(h) => {
                let mut out = Headers::new();
                out.insert("Echo", h.get("x-in").unwrap_or("none"));
                m.respond_with_headers(&out, up).unwrap();
            }
            None => m.respond(up).unwrap(),
        }
    });
    let nc = c.connect();
    for i in 0..20 {
        let reply = nc
            .request_timeout("svc.upper", format!("req {i}"), WAIT)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&reply.payload), format!("REQ {i}"));
        assert!(reply.headers.is_none());
    }
    let reply = nc.request("svc.upper", "default timeout").unwrap();
    assert_eq!(&reply.payload[..], b"DEFAULT TIMEOUT");
    let mut h = Headers::new();
    h.insert("X-In", "hello");
    let reply = nc
        .request_with_headers("svc.upper", &h, "with headers")
        .unwrap();
    assert_eq!(&reply.payload[..], b"WITH HEADERS");
    assert_eq!(reply.headers.unwrap().get("echo"), Some("hello"));

    // Concurrent requests from clones of one connection share the inbox.
    std::thread::scope(|s| {
        for th in 0..4 {
            let nc = nc.clone();
            s.spawn(move || {
                for i in 0..25 {
                    let p = format!("t{th} {i}");
                    let reply = nc.request_timeout("svc.upper", &p, WAIT).unwrap();
                    assert_eq!(String::from_utf8_lossy(&reply.payload), p.to_uppercase());
                }
            });
        }
    });
    rnc.close().unwrap();
    r.join().unwrap();
    nc.close().unwrap();
}

fn no_responders_is_fast(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let timeout = Duration::from_secs(5);
    for _ in 0..3 {
        let start = Instant::now();
        let e = assert_kind(
            nc.request_timeout("nobody.home", "x", timeout),
            ErrorKind::NoResponders,
        );
        assert!(e.is_no_responders());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "no responders took {:?}",
            start.elapsed()
        );
    }
    // And with headers.
    let mut h = Headers::new();
    h.insert("A", "b");
    assert_kind(
        nc.request_with_headers("nobody.home", &h, "x"),
        ErrorKind::NoResponders,
    );
    // The connection is fine afterwards.
    nc.flush().unwrap();
    nc.close().unwrap();
}

fn request_timeout(t: Transport) {
    let c = Ctx::new(t);
    let silent = c.connect();
    let _sub = silent.subscribe("silent").unwrap();
    silent.flush().unwrap();
    let nc = c.connect();
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let e = assert_kind(
        nc.request_timeout("silent", "x", timeout),
        ErrorKind::Timeout,
    );
    assert!(e.is_timeout());
    let took = start.elapsed();
    assert!(took >= timeout, "returned after {took:?}");
    assert!(
        took < timeout + Duration::from_secs(3),
        "returned after {took:?}"
    );
    // Default request timeout from the options.
    let nc2 = c.connect_with(c.opts().request_timeout(Duration::from_millis(200)));
    assert_kind(nc2.request("silent", "x"), ErrorKind::Timeout);
    nc.flush().unwrap();
    nc.close().unwrap();
    nc2.close().unwrap();
    silent.close().unwrap();
}

/// Three responders (on their own connections) answering on `subject`, each with its name.
struct Three {
    conns: Vec<Connection>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Three {
    fn start(c: &Ctx, subject: &str) -> Three {
        let mut conns = Vec::new();
        let mut threads = Vec::new();
        for i in 0..3 {
            let nc = c.connect();
            threads.push(responder(&nc, subject, move |m| {
                m.respond(format!("r{i}")).unwrap()
            }));
            conns.push(nc);
        }
        Three { conns, threads }
    }

    fn stop(self) {
        for nc in &self.conns {
            nc.close().unwrap();
        }
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

fn replies(it: natsws::RequestMany) -> Vec<String> {
    it.map(|r| String::from_utf8_lossy(&r.unwrap().payload).into_owned())
        .collect()
}

fn request_many_max_messages(t: Transport) {
    let c = Ctx::new(t);
    let three = Three::start(&c, "many");
    let nc = c.connect();
    for n in 1..=3 {
        let start = Instant::now();
        let opts = RequestManyOptions::new()
            .max_messages(n)
            .max_wait(Duration::from_secs(5));
        let got = replies(nc.request_many("many", "q", opts).unwrap());
        assert_eq!(got.len(), n, "{got:?}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
    three.stop();
    nc.close().unwrap();
}

fn request_many_max_wait(t: Transport) {
    let c = Ctx::new(t);
    let three = Three::start(&c, "many");
    let nc = c.connect();
    let wait = Duration::from_millis(500);
    let start = Instant::now();
    let mut got = replies(
        nc.request_many("many", "q", RequestManyOptions::new().max_wait(wait))
            .unwrap(),
    );
    let took = start.elapsed();
    got.sort();
    assert_eq!(got, ["r0", "r1", "r2"]);
    assert!(
        took >= wait && took < wait + Duration::from_secs(3),
        "{took:?}"
    );
    three.stop();
    nc.close().unwrap();
}

fn request_many_stall(t: Transport) {
    let c = Ctx::new(t);
    let three = Three::start(&c, "many");
    let nc = c.connect();
    let start = Instant::now();
    let opts = RequestManyOptions::new()
        .stall(Duration::from_millis(300))
        .max_wait(Duration::from_secs(10));
    let mut got = replies(nc.request_many("many", "q", opts).unwrap());
    let took = start.elapsed();
    got.sort();
    assert_eq!(got, ["r0", "r1", "r2"]);
    assert!(
        took < Duration::from_secs(5),
        "the stall did not end it: {took:?}"
    );
    three.stop();
    nc.close().unwrap();
}

fn request_many_sentinel(t: Transport) {
    let c = Ctx::new(t);
    let rnc = c.connect();
    let r = responder(&rnc, "chunks", |m| {
        m.respond("part 1").unwrap();
        m.respond("part 2").unwrap();
        m.respond("").unwrap();
        // May race with the test closing this connection.
        let _ = m.respond("after the sentinel");
    });
    let nc = c.connect();
    let start = Instant::now();
    let opts = RequestManyOptions::new()
        .sentinel()
        .max_wait(Duration::from_secs(10));
    let got = replies(nc.request_many("chunks", "q", opts).unwrap());
    assert_eq!(got, ["part 1", "part 2"]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Without the sentinel option an empty reply is an ordinary reply.
    let opts = RequestManyOptions::new()
        .max_messages(3)
        .max_wait(Duration::from_secs(10));
    let got = replies(nc.request_many("chunks", "q", opts).unwrap());
    assert_eq!(got, ["part 1", "part 2", ""]);
    rnc.close().unwrap();
    r.join().unwrap();
    nc.close().unwrap();
}

fn request_many_no_responders(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let start = Instant::now();
    let mut it = nc
        .request_many(
            "nobody",
            "q",
            RequestManyOptions::new().max_wait(Duration::from_secs(5)),
        )
        .unwrap();
    let first = it.next().expect("one error");
    assert_kind(first, ErrorKind::NoResponders);
    assert!(it.next().is_none());
    assert!(it.next().is_none());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    nc.close().unwrap();
}
