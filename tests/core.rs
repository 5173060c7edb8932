//! Core behaviour over every transport (tcp, ws, wss): pub/sub, wildcards, headers,
//! unsubscribe, connection info. Each case is a `fn(Transport)`; `each_transport!` makes a
//! test per transport (`<case>::tcp`, `<case>::ws`, `<case>::wss`).

mod common;

use std::time::Duration;

use common::*;
use natsws::test_server::Transport;
use natsws::{
    Connection, Error, ErrorKind, Event, Headers, Message, RequestManyOptions, State, Subscription,
};

each_transport!(
    pub_sub_basic,
    wildcards,
    headers_round_trip,
    auto_unsubscribe,
    unsubscribe_and_drop,
    connection_info_and_stats,
    cross_transport,
    closed_and_events,
    closed_event_before_close_returns,
    close_keeps_queued_messages,
);

fn pub_sub_basic(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc.subscribe("basic.subject").unwrap();
    assert_eq!(sub.subject(), "basic.subject");
    assert_eq!(sub.queue(), None);
    nc.flush().unwrap();
    nc.publish("basic.subject", "hello").unwrap();
    nc.publish("basic.subject", b"").unwrap();
    nc.publish("basic.subject", vec![0u8, 255, 10, 13]).unwrap();
    let m = next(&sub);
    assert_eq!(m.subject, "basic.subject");
    assert_eq!(&m.payload[..], b"hello");
    assert_eq!(m.reply, None);
    assert!(m.headers.is_none());
    assert_eq!(next(&sub).payload.len(), 0);
    assert_eq!(&next(&sub).payload[..], &[0u8, 255, 10, 13]);
    // A message from another connection, with a reply subject and via publish_message.
    let other = c.connect();
    other
        .publish_message(&Message::new("basic.subject", "from other").with_reply("my.reply"))
        .unwrap();
    other.flush().unwrap();
    let m = next(&sub);
    assert_eq!(&m.payload[..], b"from other");
    assert_eq!(m.reply.as_deref(), Some("my.reply"));
    assert_quiet(&nc, &sub);
    nc.close().unwrap();
    other.close().unwrap();
}

fn wildcards(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let star = nc.subscribe("w.*").unwrap();
    let full = nc.subscribe("w.>").unwrap();
    let mid = nc.subscribe("w.*.end").unwrap();
    let exact = nc.subscribe("w").unwrap();
    nc.flush().unwrap();
    for s in ["w", "w.a", "w.a.b", "w.x.end", "other.a"] {
        nc.publish(s, s).unwrap();
    }
    nc.flush().unwrap();
    let got = |sub: &Subscription| -> Vec<String> {
        sub.try_iter()
            .map(|m| {
                assert_eq!(m.subject.as_bytes(), &m.payload[..]);
                m.subject
            })
            .collect()
    };
    // `*` matches exactly one token; `>` one or more (so not `w` itself).
    assert_eq!(got(&star), ["w.a"]);
    assert_eq!(got(&full), ["w.a", "w.a.b", "w.x.end"]);
    assert_eq!(got(&mid), ["w.x.end"]);
    assert_eq!(got(&exact), ["w"]);
    nc.close().unwrap();
}

fn headers_round_trip(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc.subscribe("hdr").unwrap();
    nc.flush().unwrap();
    let mut h = Headers::new();
    h.append("X-Multi", "one");
    h.append("CamelCase-Name", "Value With Spaces");
    h.append("x-multi", "two");
    h.append("lower", "l");
    h.append("X-MULTI", "three");
    h.append("Empty", "");
    nc.publish_with_headers("hdr", &h, "body").unwrap();
    let m = next(&sub);
    assert_eq!(&m.payload[..], b"body");
    let got = m.headers.expect("headers");
    let sent: Vec<(&str, &str)> = h.iter().collect();
    let received: Vec<(&str, &str)> = got.iter().collect();
    assert_eq!(received, sent, "names keep their case, values their order");
    assert_eq!(got.get("x-multi"), Some("one"));
    assert_eq!(got.get("X-mUlTi"), Some("one"));
    assert_eq!(
        got.get_all("X-MULTI").collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert_eq!(got.get("camelcase-name"), Some("Value With Spaces"));
    assert_eq!(got.get("empty"), Some(""));
    assert_eq!(got.get("absent"), None);
    assert_eq!(got.status(), None);

    // Headers with an empty payload, via publish_message.
    let mut h2 = Headers::new();
    h2.insert("Only", "header");
    nc.publish_message(&Message::new("hdr", "").with_headers(h2.clone()))
        .unwrap();
    let m = next(&sub);
    assert!(m.payload.is_empty());
    assert_eq!(m.headers.as_ref(), Some(&h2));

    // A status line set by a responder arrives as status().
    let rnc = c.connect();
    let r = responder(&rnc, "status.svc", |m| {
        let mut h = Headers::new();
        h.set_status(409, Some("Conflict Of Interest"));
        h.insert("Reason", "test");
        m.respond_with_headers(&h, "payload").unwrap();
    });
    let reply = nc
        .request_timeout("status.svc", "q", WAIT)
        .expect("a reply with a status");
    assert_eq!(reply.status(), Some(409));
    let rh = reply.headers.as_ref().unwrap();
    assert_eq!(rh.description(), Some("Conflict Of Interest"));
    assert_eq!(rh.get("reason"), Some("test"));
    assert_eq!(&reply.payload[..], b"payload");
    rnc.close().unwrap();
    r.join().unwrap();
    nc.close().unwrap();
}

fn auto_unsubscribe(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let pb = c.connect();
    // next_timeout: five messages, then the subscription has ended (not a timeout).
    let sub = nc.subscribe("auto").unwrap();
    sub.unsubscribe_after(5).unwrap();
    nc.flush().unwrap();
    for i in 0..10 {
        pb.publish("auto", format!("{i}")).unwrap();
    }
    pb.flush().unwrap();
    for i in 0..5 {
        assert_eq!(String::from_utf8_lossy(&next(&sub).payload), i.to_string());
    }
    assert_kind(
        sub.next_timeout(Duration::from_secs(2)),
        ErrorKind::Unsubscribed,
    );
    assert!(sub.try_next().is_none());
    drop(sub);

    // The iterator: exactly five, then None; counting messages delivered before the call.
    let sub = nc.subscribe("auto2").unwrap();
    nc.flush().unwrap();
    pb.publish("auto2", "early").unwrap();
    pb.flush().unwrap();
    assert_eq!(&next(&sub).payload[..], b"early");
    sub.unsubscribe_after(5).unwrap();
    nc.flush().unwrap();
    for i in 0..10 {
        pb.publish("auto2", format!("{i}")).unwrap();
    }
    pb.flush().unwrap();
    let got: Vec<String> = collect_all(sub)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(got, ["0", "1", "2", "3"]);
    // The connection still works.
    let sub = nc.subscribe("after").unwrap();
    nc.flush().unwrap();
    pb.publish("after", "x").unwrap();
    next(&sub);
    nc.close().unwrap();
    pb.close().unwrap();
}

fn unsubscribe_and_drop(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let pb = c.connect();
    let s1 = nc.subscribe("u").unwrap();
    let s2 = nc.subscribe("u").unwrap();
    nc.flush().unwrap();
    pb.publish("u", "both").unwrap();
    pb.flush().unwrap();
    assert_eq!(&next(&s1).payload[..], b"both");
    assert_eq!(&next(&s2).payload[..], b"both");
    s1.unsubscribe().unwrap();
    nc.flush().unwrap();
    for i in 0..3 {
        pb.publish("u", format!("{i}")).unwrap();
    }
    pb.flush().unwrap();
    for i in 0..3 {
        assert_eq!(String::from_utf8_lossy(&next(&s2).payload), i.to_string());
    }
    assert_quiet(&nc, &s2);

    // Dropping the only subscription removes the interest on the server.
    let other = c.connect();
    let only = other.subscribe("dropme").unwrap();
    other.flush().unwrap();
    assert_kind(
        pb.request_timeout("dropme", "x", Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    drop(only);
    other.flush().unwrap();
    assert_kind(
        pb.request_timeout("dropme", "x", Duration::from_secs(5)),
        ErrorKind::NoResponders,
    );
    // Unsubscribing the only subscription does the same.
    let only = other.subscribe("unsubme").unwrap();
    other.flush().unwrap();
    only.unsubscribe().unwrap();
    other.flush().unwrap();
    assert_kind(
        pb.request_timeout("unsubme", "x", Duration::from_secs(5)),
        ErrorKind::NoResponders,
    );
    assert_eq!(other.state(), State::Connected);
    nc.close().unwrap();
    pb.close().unwrap();
    other.close().unwrap();
}

fn connection_info_and_stats(t: Transport) {
    let c = Ctx::with_config(t, "max_payload: 300000");
    let nc = c.connect();
    let rtt = nc.rtt().unwrap();
    assert!(rtt > Duration::ZERO && rtt < WAIT, "{rtt:?}");
    nc.flush_timeout(Duration::from_secs(5)).unwrap();
    let info = nc.server_info();
    assert!(!info.version.is_empty());
    assert!(info.version.starts_with("2."), "{}", info.version);
    assert!(info.headers);
    assert_eq!(info.max_payload, 300_000);
    assert_eq!(nc.max_payload(), 300_000);
    assert!(nc.client_id() > 0);
    assert_eq!(nc.client_id(), info.client_id);
    let other = c.connect();
    assert_ne!(other.client_id(), nc.client_id());
    assert_eq!(nc.connected_url().as_deref(), Some(c.url().as_str()));
    assert_eq!(nc.state(), State::Connected);
    assert!(nc.new_inbox().starts_with("_INBOX."));
    assert_ne!(nc.new_inbox(), nc.new_inbox());

    let before = nc.stats();
    assert_eq!((before.in_msgs, before.out_msgs), (0, 0));
    let sub = nc.subscribe("stats").unwrap();
    nc.flush().unwrap();
    for p in ["a", "bb", "ccc"] {
        nc.publish("stats", p).unwrap();
    }
    other.publish("stats", "dddd").unwrap();
    other.flush().unwrap();
    for _ in 0..4 {
        next(&sub);
    }
    let s = nc.stats();
    assert_eq!(s.out_msgs, 3);
    assert_eq!(s.out_bytes, 6);
    assert_eq!(s.in_msgs, 4);
    assert_eq!(s.in_bytes, 10);
    assert_eq!(other.stats().out_msgs, 1);
    assert_eq!(other.stats().out_bytes, 4);
    assert_eq!(other.stats().in_msgs, 0);
    assert_eq!(sub.delivered(), 4);
    assert_eq!(sub.pending(), (0, 0));
    nc.close().unwrap();
    other.close().unwrap();
    assert_eq!(nc.connected_url(), None);
}

/// A message crossing from the transport under test to plain tcp and back, on one server.
fn cross_transport(t: Transport) {
    let c = Ctx::new(t);
    let tcp = c.connect_tcp();
    let web = c.connect();
    let tr = responder(&tcp, "on.tcp", |m| {
        m.respond([b"tcp:".as_slice(), &m.payload].concat())
            .unwrap()
    });
    let wr = responder(&web, "on.web", |m| {
        m.respond([b"web:".as_slice(), &m.payload].concat())
            .unwrap()
    });
    for i in 0..10 {
        let p = format!("{i}");
        let r = web.request_timeout("on.tcp", &p, WAIT).unwrap();
        assert_eq!(String::from_utf8_lossy(&r.payload), format!("tcp:{i}"));
        let r = tcp.request_timeout("on.web", &p, WAIT).unwrap();
        assert_eq!(String::from_utf8_lossy(&r.payload), format!("web:{i}"));
    }
    // Plain publish with headers, both directions.
    let on_tcp = tcp.subscribe("x.tcp").unwrap();
    let on_web = web.subscribe("x.web").unwrap();
    tcp.flush().unwrap();
    web.flush().unwrap();
    let mut h = Headers::new();
    h.append("K", "v1");
    h.append("k", "v2");
    web.publish_with_headers("x.tcp", &h, "w2t").unwrap();
    tcp.publish_with_headers("x.web", &h, "t2w").unwrap();
    let m = next(&on_tcp);
    assert_eq!(
        (&m.payload[..], m.headers.as_ref()),
        (&b"w2t"[..], Some(&h))
    );
    let m = next(&on_web);
    assert_eq!(
        (&m.payload[..], m.headers.as_ref()),
        (&b"t2w"[..], Some(&h))
    );
    tcp.close().unwrap();
    web.close().unwrap();
    tr.join().unwrap();
    wr.join().unwrap();
}

fn closed_and_events(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let events = nc.events();
    match events.recv_timeout(WAIT) {
        Ok(Event::Connected { url }) => assert_eq!(url, c.url()),
        other => panic!("expected Connected first, got {other:?}"),
    }
    let waiter = {
        let nc = nc.clone();
        std::thread::spawn(move || nc.closed_timeout(WAIT).expect("closed in time"))
    };
    nc.close().unwrap();
    let reason = waiter.join().unwrap();
    assert!(reason.is_none(), "closed by the user: {reason:?}");
    assert!(nc.closed_timeout(WAIT).expect("closed in time").is_none());
    assert!(nc.close_reason().is_none());
    assert_eq!(nc.state(), State::Closed);
    // Closed may be emitted just after the state changes: wait for it (bounded).
    let reason = wait_event(&events, |e| match e {
        Event::Closed { reason } => Some(reason.clone()),
        Event::Connected { .. } => panic!("a second Connected"),
        _ => None,
    });
    assert!(reason.is_none(), "{reason:?}");
    // Nothing more after Closed.
    assert!(events.try_recv().is_err());
    assert_kind(nc.publish("x", "y"), ErrorKind::Closed);
    assert_kind(nc.request_timeout("x", "y", WAIT), ErrorKind::Closed);
    assert_kind(nc.subscribe("x"), ErrorKind::Closed);
    assert!(nc
        .request_many("x", "y", RequestManyOptions::new())
        .is_err());
}

/// After `close()` returns, the `Closed` event is already queued: a `try_recv` loop sees it.
/// Repeated, because a race shows only some of the time.
fn closed_event_before_close_returns(t: Transport) {
    let c = Ctx::new(t);
    for round in 0..20 {
        let nc = c.connect();
        let events = nc.events();
        nc.close().unwrap();
        let all: Vec<Event> = events.try_iter().collect();
        assert!(
            matches!(all.first(), Some(Event::Connected { .. })),
            "round {round}: {all:?}"
        );
        assert!(
            matches!(all.last(), Some(Event::Closed { reason: None })),
            "round {round}: no Closed event queued when close() returned: {all:?}"
        );
    }
}

/// Closing ends subscriptions, but what was already queued stays readable.
fn close_keeps_queued_messages(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc.subscribe("queued").unwrap();
    nc.flush().unwrap();
    for i in 0..5 {
        nc.publish("queued", format!("{i}")).unwrap();
    }
    nc.flush().unwrap();
    nc.close().unwrap();
    let got: Vec<String> = collect_all(sub)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(got, ["0", "1", "2", "3", "4"]);
}

#[test]
fn types_are_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn clone<T: Clone>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send_sync::<Connection>();
    clone::<Connection>();
    send::<Subscription>();
    send_sync::<Message>();
    clone::<Message>();
    error::<Error>();
    send_sync::<Headers>();
    send::<natsws::RequestMany>();
    send_sync::<natsws::Options>();
    send_sync::<Event>();
    // And an error converts into the usual boxes.
    let _: Box<dyn std::error::Error + Send + Sync> =
        Box::new(natsws::connect("nats://127.0.0.1:1").expect_err("nothing listens on port 1"));
}
