//! Errors over every transport: max_payload, invalid subjects/queues/headers, permission
//! violations, slow consumers, authorization failures. The connection must survive every
//! error that is not fatal.

mod common;

use std::time::Duration;

use common::*;
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind, Event, Headers, State};

each_transport!(
    max_payload_violation,
    invalid_names,
    permissions_violation,
    slow_consumer,
    authorization_failure,
);

/// Publishes and receives one message on a fresh subject: the connection still works.
fn still_works(nc: &Connection) {
    let subject = nc.new_inbox();
    let sub = nc.subscribe(&subject).unwrap();
    nc.flush().unwrap();
    nc.publish(&subject, "still alive").unwrap();
    assert_eq!(&next(&sub).payload[..], b"still alive");
    assert_eq!(nc.state(), State::Connected);
}

fn max_payload_violation(t: Transport) {
    let c = Ctx::with_config(t, "max_payload: 2048");
    let nc = c.connect();
    assert_eq!(nc.max_payload(), 2048);
    let sub = nc.subscribe("big").unwrap();
    nc.flush().unwrap();
    let e = assert_kind(nc.publish("big", vec![1u8; 2049]), ErrorKind::MaxPayload);
    assert!(e.to_string().contains("2048"), "{e}");
    nc.publish("big", vec![2u8; 2048]).unwrap();
    let m = next(&sub);
    assert_eq!(m.payload.len(), 2048);
    assert!(m.payload.iter().all(|&b| b == 2));

    // Headers count: headers + payload must fit.
    let mut h = Headers::new();
    h.insert("X-Some-Header", "some value");
    // The header block as it goes on the wire.
    let hlen = "NATS/1.0\r\nX-Some-Header: some value\r\n\r\n".len();
    assert_kind(
        nc.publish_with_headers("big", &h, vec![3u8; 2048 - hlen + 1]),
        ErrorKind::MaxPayload,
    );
    assert_kind(
        nc.publish_with_headers("big", &h, vec![3u8; 2048]),
        ErrorKind::MaxPayload,
    );
    nc.publish_with_headers("big", &h, vec![4u8; 2048 - hlen])
        .unwrap();
    let m = next(&sub);
    assert_eq!(m.payload.len(), 2048 - hlen);
    assert_eq!(m.headers.unwrap().get("x-some-header"), Some("some value"));

    // Requests and responses are checked too.
    assert_kind(
        nc.request_timeout("big", vec![0u8; 4096], WAIT),
        ErrorKind::MaxPayload,
    );
    nc.flush().unwrap();
    // The request above must not have reached the server: nothing arrived on `big`.
    assert_quiet(&nc, &sub);
    still_works(&nc);
    nc.close().unwrap();
}

fn invalid_names(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc.subscribe("valid.>").unwrap();
    nc.flush().unwrap();
    for s in [
        "", "a..b", "a b", "a.*", "a.>", "*", ">", ".a", "a.", "a\tb", "a\r\nb", "a\0b",
    ] {
        let e = assert_kind(nc.publish(s, "x"), ErrorKind::InvalidSubject);
        assert!(!e.to_string().is_empty());
        assert_kind(
            nc.publish_with_headers(s, &Headers::new(), "x"),
            ErrorKind::InvalidSubject,
        );
        assert_kind(
            nc.request_timeout(s, "x", Duration::from_secs(1)),
            ErrorKind::InvalidSubject,
        );
    }
    for r in ["", "a b", "r.*", "r..x"] {
        assert_kind(
            nc.publish_with_reply("valid.x", r, "x"),
            ErrorKind::InvalidSubject,
        );
    }
    for s in ["", "a..b", "a.>.b", "a b", ">.a", "a.", "a\nb"] {
        assert_kind(nc.subscribe(s), ErrorKind::InvalidSubject);
        assert_kind(nc.queue_subscribe(s, "q"), ErrorKind::InvalidSubject);
    }
    for q in ["q q", "", "q\tq", "q\r\n"] {
        assert_kind(nc.queue_subscribe("valid.q", q), ErrorKind::InvalidQueue);
    }
    // Headers: bad names and values.
    for (name, value) in [
        ("bad name", "v"),
        ("a:b", "v"),
        ("", "v"),
        ("tab\tname", "v"),
        ("ok", "line\r\nbreak"),
        ("ok", "cr\r"),
        ("ok", "lf\n"),
    ] {
        let mut h = Headers::new();
        h.append(name, value);
        assert_kind(
            nc.publish_with_headers("valid.h", &h, "x"),
            ErrorKind::InvalidHeader,
        );
        assert_kind(
            nc.request_with_headers("valid.h", &h, "x"),
            ErrorKind::InvalidHeader,
        );
    }
    // Nothing of the above reached the server, and the connection is fine.
    assert_quiet(&nc, &sub);
    still_works(&nc);
    // Valid unusual subjects do work.
    for s in ["valid.foo*", "valid.a-b_c", "valid.$x", "valid.ü"] {
        nc.publish(s, s).unwrap();
        let m = next(&sub);
        assert_eq!(m.subject, s);
    }
    nc.close().unwrap();
}

const PERMISSIONS: &str = r#"
authorization {
  users = [
    {
      user: a
      password: a
      permissions: {
        publish: { deny: ["secret.>"] }
        subscribe: { deny: ["hidden.>"] }
      }
    }
  ]
}
"#;

fn permissions_violation(t: Transport) {
    let c = Ctx::with_config(t, PERMISSIONS);
    let url = c.url_with_user("a", "a");
    let nc = c.opts().connect(url.as_str()).unwrap();
    let events = nc.events();
    let sub = nc.subscribe("open.>").unwrap();
    nc.flush().unwrap();

    // A denied publish: an event, the connection stays up.
    nc.publish("secret.x", "psst").unwrap();
    let e = wait_event(&events, |ev| match ev {
        Event::ServerError { error } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(e.kind(), ErrorKind::PermissionViolation, "{e}");
    let text = e.server_text().expect("the server's text");
    assert!(
        text.contains("Permissions Violation") && text.contains("secret.x"),
        "{text}"
    );

    // A denied subscription ends that subscription with the error.
    let hidden = nc.subscribe("hidden.x").unwrap();
    nc.flush().unwrap();
    let e = assert_kind(hidden.next_timeout(WAIT), ErrorKind::PermissionViolation);
    assert!(e.server_text().unwrap().contains("hidden.x"), "{e}");
    // Denied with a queue group too.
    let hidden_q = nc.queue_subscribe("hidden.y", "workers").unwrap();
    nc.flush().unwrap();
    assert_kind(hidden_q.next_timeout(WAIT), ErrorKind::PermissionViolation);

    // A request to a denied subject fails with the violation, not a timeout.
    let start = std::time::Instant::now();
    assert_kind(
        nc.request_timeout("secret.req", "x", Duration::from_secs(5)),
        ErrorKind::PermissionViolation,
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );

    // Normal pub/sub still works, on the old subscription and new ones.
    nc.publish("open.a", "fine").unwrap();
    assert_eq!(&next(&sub).payload[..], b"fine");
    still_works(&nc);
    // Requests still work too.
    let rnc = c.opts().connect(url.as_str()).unwrap();
    let r = responder(&rnc, "open.svc", |m| m.respond("ok").unwrap());
    assert_eq!(
        &nc.request_timeout("open.svc", "x", WAIT).unwrap().payload[..],
        b"ok"
    );
    rnc.close().unwrap();
    r.join().unwrap();
    nc.close().unwrap();
}

fn slow_consumer(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect_with(c.opts().pending_limits(10, 0));
    let events = nc.events();
    let slow = nc.subscribe("slow").unwrap();
    let fast = nc.subscribe("fast").unwrap();
    nc.flush().unwrap();
    let pb = c.connect();
    for i in 0..100u32 {
        pb.publish("slow", i.to_be_bytes()).unwrap();
    }
    pb.flush().unwrap();
    // After this round trip everything routed to `nc` before has been dispatched.
    nc.flush().unwrap();
    assert_eq!(slow.dropped(), 90);
    assert_eq!(slow.pending().0, 10);
    let (sid, subject, dropped) = wait_event(&events, |ev| match ev {
        Event::SlowConsumer {
            sid,
            subject,
            dropped,
        } => Some((*sid, subject.clone(), *dropped)),
        _ => None,
    });
    assert_eq!((sid, subject.as_str()), (slow.sid(), "slow"));
    assert!(dropped >= 1);
    // The reader thread is unaffected: another subscription receives.
    pb.publish("fast", "quick").unwrap();
    assert_eq!(&next(&fast).payload[..], b"quick");
    // The first ten are kept, in order.
    let kept: Vec<u32> = slow
        .try_iter()
        .map(|m| u32::from_be_bytes(m.payload[..].try_into().unwrap()))
        .collect();
    assert_eq!(kept, (0..10).collect::<Vec<_>>());
    // The reader of the subscription learns of the drops once, as nats.go's NextMsg says it.
    let e = slow.next_timeout(WAIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SlowConsumer, "{e}");
    assert!(e.to_string().contains("90 messages"), "{e}");
    // Once caught up, delivery resumes.
    pb.publish("slow", "again").unwrap();
    assert_eq!(&next(&slow).payload[..], b"again");
    assert_eq!(slow.dropped(), 90);
    assert_eq!(nc.state(), State::Connected);
    nc.close().unwrap();

    // A byte limit: 100-byte payloads, 1000 bytes allowed.
    let nb = c.connect_with(c.opts().pending_limits(0, 1000));
    let slow = nb.subscribe("slow.bytes").unwrap();
    nb.flush().unwrap();
    for _ in 0..50 {
        pb.publish("slow.bytes", [9u8; 100]).unwrap();
    }
    pb.flush().unwrap();
    nb.flush().unwrap();
    // The byte limit counts what a queued message holds (payload, subject, a fixed overhead),
    // so fewer than ten 100-byte messages fit in 1000 bytes, and the next would not.
    let (n, bytes) = slow.pending();
    assert!(n >= 1 && bytes <= 1000, "{n} messages, {bytes} bytes");
    assert_eq!(bytes % n, 0, "every message counts the same");
    let per = bytes / n;
    assert!(
        per >= 100 + "slow.bytes".len(),
        "{per} bytes counted per message"
    );
    assert!(bytes + per > 1000, "one more would have fit");
    assert_eq!(slow.dropped(), 50 - n as u64);
    assert_eq!(slow.try_iter().count(), n);
    nb.close().unwrap();
    pb.close().unwrap();
}

fn authorization_failure(t: Transport) {
    let c = Ctx::with_config(t, PERMISSIONS);
    for url in [
        c.url_with_user("a", "wrong"),
        c.url_with_user("nobody", "a"),
        c.url(),
    ] {
        let start = std::time::Instant::now();
        let e = assert_kind(c.opts().connect(url.as_str()), ErrorKind::Authorization);
        let text = e
            .server_text()
            .unwrap_or_else(|| panic!("no server text: {e:?}"));
        assert!(text.contains("Authorization Violation"), "{text}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
    // Credentials through the options work, and the URL's take precedence.
    let nc = c
        .opts()
        .user_and_password("a", "a")
        .connect(c.url().as_str())
        .unwrap();
    still_works(&nc);
    nc.close().unwrap();
    assert_kind(
        c.opts()
            .user_and_password("a", "a")
            .connect(c.url_with_user("a", "wrong").as_str()),
        ErrorKind::Authorization,
    );
}
