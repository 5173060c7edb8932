//! What nats.ws's subscription options and the hapi nes client offer: handler subscriptions
//! whose panics are contained, `max` and a first-message `timeout`, the list of
//! subscriptions, and rich disconnect information.

mod common;

use std::time::Duration;

use common::*;
use natsws::test_server::Transport;
use natsws::{ErrorKind, Event, State, SubscribeOptions};

each_transport!(
    a_panicking_handler_is_contained,
    max_ends_after_n_messages,
    first_message_timeout_ends_an_idle_subscription,
    the_first_message_cancels_the_timeout,
    subscriptions_are_listed_with_their_counters,
    disconnect_information,
);

fn a_panicking_handler_is_contained(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let events = nc.events();
    let (tx, rx) = crossbeam_channel::unbounded();
    let h = nc
        .subscribe_with_handler("work", SubscribeOptions::new(), move |m| {
            let n = m.payload[0];
            if n == 2 {
                panic!("handler fails on message {n}");
            }
            tx.send(n).unwrap();
        })
        .unwrap();
    nc.flush().unwrap();
    for i in 1..=5u8 {
        nc.publish("work", [i]).unwrap();
    }
    let got: Vec<u8> = (0..4).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(
        got,
        vec![1, 3, 4, 5],
        "the handler goes on after a panic, in order"
    );
    let (sid, subject, message) = wait_event(&events, |e| match e {
        Event::HandlerPanicked {
            sid,
            subject,
            message,
        } => Some((*sid, subject.clone(), message.clone())),
        _ => None,
    });
    assert_eq!((sid, subject.as_str()), (h.sid(), "work"));
    assert!(message.contains("message 2"), "{message}");
    assert_eq!(h.delivered(), 5);
    assert_eq!(nc.state(), State::Connected);
    // Unsubscribing ends the thread; how it ended: normally.
    let probe = nc.subscriptions().len();
    h.unsubscribe().unwrap();
    assert_eq!(nc.subscriptions().len(), probe - 1);
}

fn max_ends_after_n_messages(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc
        .subscribe_with("capped", SubscribeOptions::new().max(3))
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let h = nc
        .subscribe_with_handler("capped", SubscribeOptions::new().max(2), move |m| {
            tx.send(m.payload[0]).unwrap()
        })
        .unwrap();
    nc.flush().unwrap();
    for i in 0..10u8 {
        nc.publish("capped", [i]).unwrap();
    }
    let got: Vec<u8> = sub.iter().map(|m| m.payload[0]).collect();
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(h.wait_timeout(WAIT).unwrap().map(|e| e.kind()), None);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1]);
}

fn first_message_timeout_ends_an_idle_subscription(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc
        .subscribe_with(
            "idle",
            SubscribeOptions::new().timeout(Duration::from_millis(200)),
        )
        .unwrap();
    assert_eq!(nc.subscriptions().len(), 1);
    // Nothing comes: the subscription's own timeout ends it, well before the caller's.
    let e = sub.next_timeout(WAIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("subscription's timeout"), "{e}");
    // It has ended for good: unsubscribed from the server, later calls say the same.
    assert!(nc.subscriptions().is_empty());
    nc.publish("idle", "late").unwrap();
    nc.flush().unwrap();
    let again = sub.next_timeout(Duration::ZERO).unwrap_err();
    assert!(
        again.to_string().contains("subscription's timeout"),
        "{again}"
    );
    assert!(sub.try_next().is_none());
    // A handler subscription ends the same way, and says so.
    let h = nc
        .subscribe_with_handler(
            "idle2",
            SubscribeOptions::new().timeout(Duration::from_millis(100)),
            |_| {},
        )
        .unwrap();
    let end = h.wait_timeout(WAIT).unwrap().expect("ended on an error");
    assert_eq!(end.kind(), ErrorKind::Timeout);
}

fn the_first_message_cancels_the_timeout(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let sub = nc
        .subscribe_with(
            "busy",
            SubscribeOptions::new().timeout(Duration::from_millis(300)),
        )
        .unwrap();
    nc.publish("busy", "first").unwrap();
    assert_eq!(&next(&sub).payload[..], b"first");
    // Wait past the subscription's timeout: the caller's own timeout, not the end.
    let e = sub.next_timeout(Duration::from_millis(600)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(!e.to_string().contains("subscription's timeout"), "{e}");
    nc.publish("busy", "second").unwrap();
    assert_eq!(&next(&sub).payload[..], b"second");
}

fn subscriptions_are_listed_with_their_counters(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect_with(c.opts().pending_limits(2, 0));
    let a = nc.subscribe("list.a").unwrap();
    let b = nc
        .subscribe_with("list.>", SubscribeOptions::new().queue("q").max(100))
        .unwrap();
    // A request creates the internal inbox, which is not listed.
    let _ = nc.request_timeout("list.none", "", Duration::from_millis(500));
    for _ in 0..3 {
        nc.publish("list.a", "x").unwrap();
    }
    nc.flush().unwrap();
    assert!(a.try_next().is_some(), "two of three were queued");
    let list = nc.subscriptions();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!((list[0].sid, list[0].subject.as_str()), (a.sid(), "list.a"));
    assert_eq!(list[0].queue, None);
    assert_eq!(
        (list[0].delivered, list[0].pending_msgs, list[0].dropped),
        (1, 1, 1)
    );
    assert!(list[0].pending_bytes > 1);
    assert_eq!(list[0].max, None);
    assert_eq!((list[1].sid, list[1].subject.as_str()), (b.sid(), "list.>"));
    assert_eq!(list[1].queue.as_deref(), Some("q"));
    assert_eq!(list[1].max, Some(100));
    drop(a);
    assert_eq!(nc.subscriptions().len(), 1);
}

fn disconnect_information(t: Transport) {
    let mut c = Ctx::new(t);
    let nc = c.connect_with(fast_reconnect(c.opts()));
    let events = nc.events();
    let pick = |e: &Event| match e {
        Event::Disconnected {
            will_reconnect,
            requested,
            clean,
            ..
        } => Some((*will_reconnect, *requested, *clean)),
        _ => None,
    };
    nc.force_reconnect().unwrap();
    assert_eq!(wait_event(&events, pick), (true, true, true), "forced");
    wait_reconnected(&events);
    c.server.stop();
    assert_eq!(
        wait_event(&events, pick),
        (true, false, false),
        "server killed"
    );
    c.server.restart().unwrap();
    wait_reconnected(&events);
    // Without reconnecting, the event says no reconnect will follow.
    let once = c.connect_with(c.opts().no_reconnect());
    let once_events = once.events();
    c.server.stop();
    assert_eq!(wait_event(&once_events, pick), (false, false, false));
    assert!(once.closed_timeout(WAIT).unwrap().is_some());
}
