//! Services (ADR-32) against a real server over tcp, ws and wss: discovery, queue groups,
//! errors and stats, stop, panics, bad input, and interop with nats-py.
#![cfg(feature = "service")]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use natsws::service::{Service, ServiceClient};
use natsws::test_server::Transport;
use natsws::{Connection, ErrorKind, Message, RequestManyOptions};
use serde_json::{json, Value};

each_transport!(
    discovery_by_verb_name_and_id,
    queue_group_spreads_requests,
    without_queue_group_every_instance_answers,
    queue_group_resolution,
    errors_and_stats,
    stop_finishes_in_flight_requests,
    panicking_handler_gets_500_and_service_goes_on,
    iterator_endpoint,
    stop_is_bounded_and_reentrant,
    dropping_the_last_handle_stops_the_service,
    closing_the_connection_ends_the_service,
    bad_input_is_refused_before_subscribing,
    nats_py_calls_a_natsws_service,
    natsws_finds_a_nats_py_service,
);

/// A client that gives up quickly once replies stop (everything is on loopback).
fn client(nc: &Connection) -> ServiceClient {
    nc.services()
        .client()
        .stall(Duration::from_millis(200))
        .max_wait(WAIT)
}

/// A request with the suite's bound.
fn req(nc: &Connection, subject: &str, payload: &str) -> Message {
    nc.request_timeout(subject, payload, WAIT)
        .unwrap_or_else(|e| panic!("request to {subject}: {e}"))
}

fn json_of(m: &Message) -> Value {
    serde_json::from_slice(&m.payload).expect("a JSON document")
}

/// An `echo` service instance on `nc` answering "<tag>:<payload>" on `svc.echo`.
fn echo_service(nc: &Connection, tag: &'static str) -> Service {
    let svc = nc
        .services()
        .builder("disc", "1.2.3-rc.1+b.5")
        .description("echoes")
        .metadata([("k", "v")])
        .start()
        .unwrap();
    svc.group("svc")
        .endpoint("echo")
        .metadata([("e", "1")])
        .handler(move |r| {
            let body = format!("{tag}:{}", String::from_utf8_lossy(r.payload()));
            r.respond(body).unwrap();
        })
        .unwrap();
    svc
}

fn discovery_by_verb_name_and_id(t: Transport) {
    let c = Ctx::new(t);
    let (nc1, nc2, caller) = (c.connect(), c.connect(), c.connect());
    let a = echo_service(&nc1, "a");
    let b = echo_service(&nc2, "b");
    let other = nc1.services().builder("other", "0.0.1").start().unwrap();
    assert_ne!(a.id(), b.id());
    let cl = client(&caller);

    // By verb: everyone; by name: the two instances; by id: one.
    let all: HashSet<String> = cl.ping().unwrap().into_iter().map(|p| p.id).collect();
    let want: HashSet<String> = [a.id(), b.id(), other.id()].map(String::from).into();
    assert_eq!(all, want);
    for verb in ["PING", "INFO", "STATS"] {
        let n = caller
            .request_many(
                &format!("$SRV.{verb}.disc"),
                "",
                RequestManyOptions::new().max_wait(Duration::from_millis(500)),
            )
            .unwrap()
            .map(|r| json_of(&r.unwrap()))
            .inspect(|d| assert_eq!(d["name"], "disc"))
            .count();
        assert_eq!(n, 2, "{verb} by name");
    }
    assert_eq!(cl.info().unwrap().len(), 3);
    assert_eq!(cl.stats_name("disc").unwrap().len(), 2);
    let ids: HashSet<String> = cl
        .info_name("disc")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [a.id(), b.id()].map(String::from).into());

    // By id, the exact documents.
    let ping = json_of(&req(&caller, &format!("$SRV.PING.disc.{}", a.id()), ""));
    assert_eq!(
        ping,
        json!({"name":"disc","id":a.id(),"version":"1.2.3-rc.1+b.5","metadata":{"k":"v"},
               "type":"io.nats.micro.v1.ping_response"})
    );
    let info = json_of(&req(&caller, &format!("$SRV.INFO.disc.{}", a.id()), ""));
    assert_eq!(
        info,
        json!({"name":"disc","id":a.id(),"version":"1.2.3-rc.1+b.5","metadata":{"k":"v"},
               "type":"io.nats.micro.v1.info_response","description":"echoes",
               "endpoints":[{"name":"echo","subject":"svc.echo","queue_group":"q",
                             "metadata":{"e":"1"}}]})
    );
    assert_eq!(req(&caller, "svc.echo", "x").payload.len(), 3);
    let stats = json_of(&req(&caller, &format!("$SRV.STATS.disc.{}", b.id()), ""));
    let keys: Vec<&str> = stats
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "endpoints",
            "id",
            "metadata",
            "name",
            "started",
            "type",
            "version"
        ]
    );
    assert_eq!(stats["type"], "io.nats.micro.v1.stats_response");
    assert_eq!(stats["id"], b.id());
    let started = stats["started"].as_str().unwrap();
    assert!(
        started.len() >= 20 && started.ends_with('Z') && &started[10..11] == "T",
        "{started}"
    );
    let ep = &stats["endpoints"][0];
    let mut ep_keys: Vec<&str> = ep.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    ep_keys.sort();
    assert_eq!(
        ep_keys,
        [
            "average_processing_time",
            "last_error",
            "name",
            "num_errors",
            "num_requests",
            "processing_time",
            "queue_group",
            "subject"
        ]
    );
    assert_eq!(
        (ep["name"].as_str(), ep["subject"].as_str()),
        (Some("echo"), Some("svc.echo"))
    );
    assert_eq!(ep["last_error"], "");

    // Typed, by id.
    let p = cl.ping_id("disc", b.id()).unwrap();
    assert_eq!(
        (p.id.as_str(), p.kind.as_str()),
        (b.id(), "io.nats.micro.v1.ping_response")
    );
    let i = cl.info_id("disc", a.id()).unwrap();
    assert_eq!(
        i.endpoints[0].metadata,
        BTreeMap::from([("e".into(), "1".into())])
    );
    assert_eq!(i, a.info());
    let s = cl.stats_id("disc", a.id()).unwrap();
    assert_eq!(s.endpoints.len(), 1);

    // An unknown id: nobody answers.
    let e = assert_kind(cl.ping_id("disc", "NOSUCHID"), ErrorKind::NoResponders);
    assert!(e.to_string().contains("NOSUCHID"), "{e}");
    assert_kind(
        caller.request_timeout("$SRV.INFO.disc.NOSUCHID", "", WAIT),
        ErrorKind::NoResponders,
    );
    assert!(cl.ping_name("nosuchservice").unwrap().is_empty());
    for s in [a, b, other] {
        s.stop().unwrap();
    }
    assert!(cl.ping().unwrap().is_empty());
}

fn queue_group_spreads_requests(t: Transport) {
    let c = Ctx::new(t);
    let (nc1, nc2, caller) = (c.connect(), c.connect(), c.connect());
    let a = echo_service(&nc1, "a");
    let b = echo_service(&nc2, "b");
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..60 {
        let r = req(&caller, "svc.echo", &i.to_string());
        let tag = String::from_utf8_lossy(&r.payload)
            .split(':')
            .next()
            .unwrap()
            .to_string();
        *by.entry(tag).or_insert(0) += 1;
    }
    // Each request went to exactly one instance, and both took some (2^-59 odds otherwise).
    assert_eq!(by.values().sum::<u64>(), 60);
    assert!(
        by.get("a").is_some_and(|&n| n > 0) && by.get("b").is_some_and(|&n| n > 0),
        "{by:?}"
    );
    let na = a.stats().endpoints[0].num_requests;
    let nb = b.stats().endpoints[0].num_requests;
    assert_eq!((na, nb), (by["a"], by["b"]));
}

fn without_queue_group_every_instance_answers(t: Transport) {
    let c = Ctx::new(t);
    let (nc1, nc2, caller) = (c.connect(), c.connect(), c.connect());
    let mk = |nc: &Connection, tag: &'static str| {
        let svc = nc
            .services()
            .builder("fan", "1.0.0")
            .no_queue_group()
            .start()
            .unwrap();
        svc.endpoint("all")
            .handler(move |r| r.respond(tag).unwrap())
            .unwrap();
        svc
    };
    let (a, b) = (mk(&nc1, "a"), mk(&nc2, "b"));
    let opts = RequestManyOptions::new().max_messages(2).max_wait(WAIT);
    let mut got: Vec<String> = caller
        .request_many("all", "", opts)
        .unwrap()
        .map(|r| String::from_utf8_lossy(&r.unwrap().payload).into_owned())
        .collect();
    got.sort();
    assert_eq!(got, ["a", "b"]);
    assert_eq!(a.info().endpoints[0].queue_group, "");
    assert_eq!(b.stats().endpoints[0].num_requests, 1);
}

fn queue_group_resolution(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let svc = nc
        .services()
        .builder("qg", "1.0.0")
        .queue_group("sq")
        .start()
        .unwrap();
    let _e1 = svc.endpoint("plain").add().unwrap();
    let _e2 = svc.endpoint("own").queue_group("eq").add().unwrap();
    let _e3 = svc.endpoint("none").no_queue_group().add().unwrap();
    let off = svc.group("off").no_queue_group();
    let e4 = off.endpoint("inherits").add().unwrap();
    let _e5 = off.endpoint("back").queue_group("bq").add().unwrap();
    let _e6 = off
        .group("deeper")
        .queue_group("dq")
        .endpoint("x")
        .subject("y.*")
        .add()
        .unwrap();
    assert_eq!(e4.queue_group(), None);
    let got: Vec<(String, String)> = client(&c.connect())
        .info_id("qg", svc.id())
        .unwrap()
        .endpoints
        .into_iter()
        .map(|e| (e.subject, e.queue_group))
        .collect();
    let want = [
        ("plain", "sq"),
        ("own", "eq"),
        ("none", ""),
        ("off.inherits", ""),
        ("off.back", "bq"),
        ("off.deeper.y.*", "dq"),
    ];
    assert_eq!(got, want.map(|(s, q)| (s.to_string(), q.to_string())));
    // The default is `q`.
    let d = nc.services().builder("qd", "1.0.0").start().unwrap();
    assert_eq!(d.endpoint("e").add().unwrap().queue_group(), Some("q"));
}

fn errors_and_stats(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    let svc = nc
        .services()
        .builder("calc", "2.0.0")
        .stats_handler(|e| json!({"endpoint": e.name, "seen": e.num_requests}))
        .start()
        .unwrap();
    svc.endpoint("half")
        .handler(|r| {
            std::thread::sleep(Duration::from_millis(2)); // measurable processing time
            match std::str::from_utf8(r.payload())
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(n) if n % 2 == 0 => r.respond((n / 2).to_string()).unwrap(),
                Some(_) => r
                    .respond_error(422, "odd number", "try an even one")
                    .unwrap(),
                None => r.respond_error(400, "not a number", "").unwrap(),
            }
        })
        .unwrap();
    assert_eq!(&req(&caller, "half", "42").payload[..], b"21");
    assert_eq!(req(&caller, "half", "8").service_error(), None);
    let odd = req(&caller, "half", "7");
    let e = odd.service_error().expect("an error reply");
    assert_eq!((e.code, e.description.as_str()), (422, "odd number"));
    assert_eq!(&odd.payload[..], b"try an even one");
    let nan = req(&caller, "half", "x").service_error().unwrap();
    assert_eq!((nan.code, nan.description.as_str()), (400, "not a number"));

    let s = client(&caller).stats_id("calc", svc.id()).unwrap();
    let ep = &s.endpoints[0];
    assert_eq!((ep.num_requests, ep.num_errors), (4, 2));
    assert_eq!(ep.last_error, "400:not a number");
    assert!(
        ep.processing_time >= Duration::from_millis(8),
        "{:?}",
        ep.processing_time
    );
    assert_eq!(ep.average_processing_time, ep.processing_time / 4);
    assert_eq!(ep.data, Some(json!({"endpoint": "half", "seen": 4})));
    let started_before = s.started.clone();

    svc.reset();
    let s = client(&caller).stats_id("calc", svc.id()).unwrap();
    let ep = &s.endpoints[0];
    assert_eq!((ep.num_requests, ep.num_errors), (0, 0));
    assert_eq!(ep.last_error, "");
    assert_eq!(
        (ep.processing_time, ep.average_processing_time),
        (Duration::ZERO, Duration::ZERO)
    );
    assert!(
        s.started >= started_before,
        "{} < {started_before}",
        s.started
    );
    // A bad error description is refused and nothing is sent.
    let ep2 = svc.endpoint("strict").add().unwrap();
    let pending = std::thread::spawn({
        let caller = caller.clone();
        move || caller.request_timeout("strict", "", WAIT)
    });
    let r = ep2.next_timeout(WAIT).unwrap();
    assert_kind(
        r.respond_error(500, "two\nlines", ""),
        ErrorKind::InvalidHeader,
    );
    assert_kind(r.respond_error(500, "", ""), ErrorKind::InvalidHeader);
    r.respond_error(503, "busy", "").unwrap();
    assert_eq!(
        pending
            .join()
            .unwrap()
            .unwrap()
            .service_error()
            .unwrap()
            .code,
        503
    );
    let st = svc.stats().endpoints[1].clone();
    assert_eq!(
        (st.num_requests, st.num_errors, st.last_error.as_str()),
        (1, 1, "503:busy")
    );
}

fn stop_finishes_in_flight_requests(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    let svc = nc.services().builder("slow", "1.0.0").start().unwrap();
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    svc.endpoint("work")
        .handler(move |r| {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(WAIT).unwrap();
            r.respond(r.payload().clone()).unwrap();
        })
        .unwrap();
    // Three requests reach the service before it stops (the server has routed them once the
    // flush returns); the first is being handled.
    let inbox = caller.new_inbox();
    let replies = caller.subscribe(&inbox).unwrap();
    for i in 0..3 {
        caller
            .publish_with_reply("work", &inbox, i.to_string())
            .unwrap();
    }
    caller.flush().unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    let stopper = std::thread::spawn({
        let svc = svc.clone();
        move || svc.stop_timeout(WAIT)
    });
    // Stop unsubscribes discovery once the endpoint is drained, then waits for the three
    // requests, which cannot be answered until released: it must still be running then.
    let ping = format!("$SRV.PING.slow.{}", svc.id());
    let deadline = std::time::Instant::now() + WAIT;
    while caller.request_timeout(&ping, "", WAIT).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "discovery still answers"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        !stopper.is_finished(),
        "stop returned with requests in flight"
    );
    assert!(replies.try_next().is_none());
    for _ in 0..3 {
        release_tx.send(()).unwrap();
    }
    stopper.join().unwrap().unwrap();
    let mut answers: Vec<String> = (0..3)
        .map(|_| String::from_utf8_lossy(&next(&replies).payload).into_owned())
        .collect();
    answers.sort();
    assert_eq!(answers, ["0", "1", "2"]);
    assert!(svc.is_stopped());
    assert_eq!(svc.stats().endpoints[0].num_requests, 3);
    // Gone: no discovery, no endpoint, no new endpoints.
    assert!(client(&caller).ping_name("slow").unwrap().is_empty());
    assert_kind(
        caller.request_timeout("work", "", WAIT),
        ErrorKind::NoResponders,
    );
    assert_kind(
        caller.request_timeout(&format!("$SRV.PING.slow.{}", svc.id()), "", WAIT),
        ErrorKind::NoResponders,
    );
    assert_kind(svc.endpoint("late").add(), ErrorKind::ServiceStopped);
    svc.stop().unwrap(); // idempotent
}

fn panicking_handler_gets_500_and_service_goes_on(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    let svc = nc.services().builder("fragile", "1.0.0").start().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    svc.endpoint("maybe")
        .handler(move |r| {
            n.fetch_add(1, Ordering::SeqCst);
            if &r.payload()[..] == b"boom" {
                panic!("asked to panic");
            }
            r.respond("fine").unwrap();
        })
        .unwrap();
    let e = req(&caller, "maybe", "boom")
        .service_error()
        .expect("an error reply");
    assert_eq!((e.code, e.description.as_str()), (500, "handler panicked"));
    assert_eq!(&req(&caller, "maybe", "ok").payload[..], b"fine");
    assert!(req(&caller, "maybe", "boom").service_error().is_some());
    assert_eq!(&req(&caller, "maybe", "again").payload[..], b"fine");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let st = &svc.stats().endpoints[0];
    assert_eq!((st.num_requests, st.num_errors), (4, 2));
    assert_eq!(st.last_error, "500:handler panicked");
    // Discovery still works.
    assert_eq!(
        client(&caller).ping_id("fragile", svc.id()).unwrap().id,
        svc.id()
    );
}

fn iterator_endpoint(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    let svc = nc.services().builder("iter", "1.0.0").start().unwrap();
    let ep = svc.group("g").endpoint("e").subject("x.>").add().unwrap();
    assert_eq!(
        (ep.name(), ep.subject(), ep.queue_group()),
        ("e", "g.x.>", Some("q"))
    );
    assert!(ep.try_next().is_none());
    assert_kind(
        ep.next_timeout(Duration::from_millis(20)),
        ErrorKind::Timeout,
    );
    let h = std::thread::spawn({
        let caller = caller.clone();
        move || caller.request_timeout("g.x.y.z", "hi", WAIT)
    });
    let r = ep.next_timeout(WAIT).unwrap();
    assert_eq!(
        (r.subject(), &r.payload()[..], r.endpoint()),
        ("g.x.y.z", &b"hi"[..], "e")
    );
    r.respond_json(&json!({"ok": true})).unwrap();
    assert_eq!(json_of(&h.join().unwrap().unwrap()), json!({"ok": true}));
    // A request dropped unanswered is still counted (the caller times out).
    let h = std::thread::spawn({
        let caller = caller.clone();
        move || caller.request_timeout("g.x.q", "", Duration::from_millis(300))
    });
    drop(ep.next_timeout(WAIT).unwrap());
    assert_kind(h.join().unwrap(), ErrorKind::Timeout);
    assert_eq!(svc.stats().endpoints[0].num_requests, 2);
    // A request without a reply subject cannot be answered: an error, counted once.
    caller.publish("g.x.fire", "and forget").unwrap();
    let r = ep.next_timeout(WAIT).unwrap();
    assert_kind(r.respond("nobody hears"), ErrorKind::InvalidSubject);
    assert_kind(
        r.respond_error(500, "nor this", ""),
        ErrorKind::InvalidSubject,
    );
    let st = svc.stats().endpoints[0].clone();
    assert_eq!((st.num_requests, st.num_errors), (3, 1));
    assert!(
        st.last_error
            .starts_with("500:the response could not be sent"),
        "{}",
        st.last_error
    );
    // Stop ends the iterator (nothing in flight: stop does not wait).
    let reader = std::thread::spawn(move || ep.count());
    svc.stop_timeout(WAIT).unwrap();
    assert_eq!(reader.join().unwrap(), 0);
}

fn stop_is_bounded_and_reentrant(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    // A request queued on an endpoint nobody reads: stop gives up at its deadline and says so.
    let svc = nc.services().builder("stuck", "1.0.0").start().unwrap();
    let ep = svc.endpoint("e").add().unwrap();
    caller
        .publish_with_reply("e", "nobody.listens", "x")
        .unwrap();
    caller.flush().unwrap();
    let e = assert_kind(
        svc.stop_timeout(Duration::from_millis(200)),
        ErrorKind::Timeout,
    );
    assert!(e.to_string().contains("1 request"), "{e}");
    assert!(svc.is_stopped());
    assert_kind(
        caller.request_timeout("$SRV.PING.stuck", "", WAIT),
        ErrorKind::NoResponders,
    );
    // The queued request is still readable, then the iterator ends.
    assert_eq!(ep.count(), 1);

    // A handler that stops its own service before answering does not wait for itself (it
    // would wait out the deadline and report its own request as unanswered).
    let svc = nc.services().builder("quitter", "1.0.0").start().unwrap();
    let me = svc.clone();
    let (stopped_tx, stopped_rx) = crossbeam_channel::bounded(1);
    svc.endpoint("quit")
        .handler(move |r| {
            let t0 = std::time::Instant::now();
            let stopped = me.stop_timeout(WAIT);
            r.respond("bye").unwrap();
            stopped_tx.send((stopped, t0.elapsed())).unwrap();
        })
        .unwrap();
    assert_eq!(&req(&caller, "quit", "").payload[..], b"bye");
    let (stopped, took) = stopped_rx.recv_timeout(WAIT).unwrap();
    stopped.unwrap();
    assert!(took < WAIT, "stop waited for its own thread: {took:?}");
    assert!(svc.is_stopped());
    assert_kind(
        caller.request_timeout("quit", "", WAIT),
        ErrorKind::NoResponders,
    );
}

fn dropping_the_last_handle_stops_the_service(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    let svc = nc.services().builder("brief", "1.0.0").start().unwrap();
    svc.endpoint("e")
        .handler(|r| r.respond("ok").unwrap())
        .unwrap();
    let group = svc.group("g");
    assert_eq!(&req(&caller, "e", "").payload[..], b"ok");
    drop(svc);
    // The group still holds the service.
    assert_eq!(client(&caller).ping_name("brief").unwrap().len(), 1);
    drop(group);
    assert!(client(&caller).ping_name("brief").unwrap().is_empty());
    assert_kind(
        caller.request_timeout("e", "", WAIT),
        ErrorKind::NoResponders,
    );
}

fn closing_the_connection_ends_the_service(t: Transport) {
    let c = Ctx::new(t);
    let (nc, caller) = (c.connect(), c.connect());
    let svc = nc.services().builder("mortal", "1.0.0").start().unwrap();
    svc.endpoint("e")
        .handler(|r| r.respond("ok").unwrap())
        .unwrap();
    let ep = svc.endpoint("it").add().unwrap();
    assert_eq!(&req(&caller, "e", "").payload[..], b"ok");
    nc.close().unwrap();
    // The endpoint iterator ends, the service no longer answers, and stop returns at once.
    assert_kind(ep.next_timeout(WAIT), ErrorKind::ServiceStopped);
    assert!(client(&caller).ping().unwrap().is_empty());
    let t0 = std::time::Instant::now();
    svc.stop_timeout(WAIT).unwrap();
    assert!(t0.elapsed() < WAIT / 2, "stop took {:?}", t0.elapsed());
    assert_kind(svc.endpoint("late").add(), ErrorKind::ServiceStopped);
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<natsws::service::Service>();
    send_sync::<natsws::service::Group>();
    send_sync::<natsws::service::Request>();
    send_sync::<natsws::service::ServiceClient>();
    send::<natsws::service::Endpoint>();
    send::<natsws::service::ServiceBuilder>();
    send::<natsws::service::EndpointBuilder>();
}

fn bad_input_is_refused_before_subscribing(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let b = || nc.services();
    assert_kind(
        b().builder("has space", "1.0.0").start(),
        ErrorKind::InvalidOption,
    );
    assert_kind(
        b().builder("dot.ted", "1.0.0").start(),
        ErrorKind::InvalidOption,
    );
    assert_kind(b().builder("", "1.0.0").start(), ErrorKind::InvalidOption);
    for v in [
        "1.0", "v1.0.0", "1.0.0-", "01.0.0", "1.0.0-01", "1.0.0+", "latest",
    ] {
        assert_kind(b().builder("ok", v).start(), ErrorKind::InvalidOption);
    }
    assert_kind(
        b().builder("ok", "1.0.0").queue_group("a b").start(),
        ErrorKind::InvalidQueue,
    );
    // None of those subscribed anything: nobody answers discovery.
    assert!(client(&nc).ping().unwrap().is_empty());

    let svc = b().builder("ok", "1.0.0").start().unwrap();
    assert_kind(
        svc.endpoint("e").subject("a b").add(),
        ErrorKind::InvalidSubject,
    );
    assert_kind(
        svc.endpoint("e").subject("a.>.b").add(),
        ErrorKind::InvalidSubject,
    );
    assert_kind(
        svc.endpoint("e").subject("a..b").add(),
        ErrorKind::InvalidSubject,
    );
    assert_kind(svc.endpoint("bad name").add(), ErrorKind::InvalidOption);
    assert_kind(
        svc.endpoint("e").queue_group("a b").add(),
        ErrorKind::InvalidQueue,
    );
    assert_kind(
        svc.group("g.*").endpoint("e").add(),
        ErrorKind::InvalidSubject,
    );
    assert_kind(
        svc.group("g.>").endpoint("e").handler(|_| {}),
        ErrorKind::InvalidSubject,
    );
    assert_kind(
        svc.group("g h").endpoint("e").add(),
        ErrorKind::InvalidSubject,
    );
    assert!(svc.info().endpoints.is_empty());
    for s in ["a", "e", "g.e"] {
        assert_kind(nc.request_timeout(s, "", WAIT), ErrorKind::NoResponders);
    }
    // The service itself is fine.
    assert_eq!(client(&nc).ping().unwrap().len(), 1);
}

/// The python interpreter (CI installs nats-py; a missing one fails the test).
fn python() -> Command {
    Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
}

fn interop_script(name: &str) -> String {
    format!("{}/tests/interop/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` to completion within `WAIT`, returning its stdout; panics with its stderr on
/// failure.
fn run_bounded(mut cmd: Command) -> String {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?} (python3 with nats-py is required): {e}"));
    let id = child.id();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT * 3) {
        Ok(out) => {
            let out = out.unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{cmd:?} failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("{cmd:?} did not finish within {:?}", WAIT * 3);
        }
    }
}

fn nats_py_calls_a_natsws_service(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let svc = nc
        .services()
        .builder("rusty", "3.1.4")
        .description("natsws echo")
        .start()
        .unwrap();
    svc.group("svc")
        .endpoint("echo")
        .handler(|r| {
            if r.payload().is_empty() {
                r.respond_error(400, "empty request", "").unwrap();
            } else {
                r.respond(r.payload().clone()).unwrap();
            }
        })
        .unwrap();
    // nats-py speaks tcp; the service is on the transport under test.
    let mut cmd = python();
    cmd.arg(interop_script("service_client.py"))
        .arg(c.server.tcp_url())
        .arg("rusty")
        .arg(svc.id());
    let out = run_bounded(cmd);
    let seen: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("nats-py printed {out:?}: {e}"));
    assert_eq!(
        seen,
        json!({"ok": true, "version": "3.1.4", "description": "natsws echo",
               "endpoints": ["svc.echo"], "num_requests": 2})
    );
    assert_eq!(svc.stats().endpoints[0].num_errors, 1);
}

fn natsws_finds_a_nats_py_service(t: Transport) {
    let c = Ctx::new(t);
    let mut child = python()
        .arg(interop_script("service_host.py"))
        .arg(c.server.tcp_url())
        .arg("pysvc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting python3 (with nats-py, required): {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(WAIT * 2) {
        Ok(l) if !l.is_empty() => l,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the nats-py service did not start: {other:?}");
        }
    };
    let check = || {
        let id = serde_json::from_str::<Value>(&line).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let nc = c.connect();
        let cl = client(&nc);
        let pings = cl.ping_name("pysvc").unwrap();
        assert_eq!(pings.len(), 1);
        assert_eq!(
            (pings[0].id.as_str(), pings[0].version.as_str()),
            (id.as_str(), "0.4.2")
        );
        assert_eq!(pings[0].kind, "io.nats.micro.v1.ping_response");
        assert_eq!(
            pings[0].metadata,
            BTreeMap::from([("lang".into(), "python".into())])
        );
        let info = cl.info_id("pysvc", &id).unwrap();
        assert_eq!(info.description, "nats-py upper");
        assert_eq!(info.endpoints.len(), 1);
        assert_eq!(
            (
                info.endpoints[0].name.as_str(),
                info.endpoints[0].subject.as_str()
            ),
            ("upper", "py.upper")
        );
        assert_eq!(info.endpoints[0].queue_group, "q");
        assert_eq!(&req(&nc, "py.upper", "abc").payload[..], b"ABC");
        let e = req(&nc, "py.upper", "")
            .service_error()
            .expect("an error reply");
        assert_eq!((e.code, e.description.as_str()), (422, "empty"));
        let stats = cl.stats_id("pysvc", &id).unwrap();
        assert_eq!(stats.kind, "io.nats.micro.v1.stats_response");
        assert_eq!(stats.endpoints[0].num_requests, 2);
        assert!(cl.ping().unwrap().iter().any(|p| p.id == id));
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    drop(child.stdin.take()); // the script stops its service and exits
    let (tx, rx) = crossbeam_channel::bounded(1);
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    if rx.recv_timeout(WAIT).is_err() {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
