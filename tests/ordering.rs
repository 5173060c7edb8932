//! Requests and replies may be written by the calling thread while the writer thread is parked;
//! bytes must still leave in order. Publishes from one thread, requests from another, and
//! replies from a responder all share one connection here, and every stream stays in order.

mod common;

use std::sync::Arc;

use common::*;
use natsws::test_server::Transport;

each_transport!(publishes_and_requests_interleave_in_order);

fn publishes_and_requests_interleave_in_order(t: Transport) {
    let c = Ctx::new(t);
    let nc = c.connect();
    let watcher = c.connect();
    let seq = watcher.subscribe("order.seq").unwrap();
    let service = nc.subscribe("order.svc").unwrap();
    watcher.flush().unwrap();
    nc.flush().unwrap();
    let responder = std::thread::spawn(move || {
        let mut answered = 0u32;
        for m in service.iter().take(300) {
            m.respond(&m.payload).unwrap();
            answered += 1;
        }
        answered
    });
    let publisher = {
        let nc = nc.clone();
        std::thread::spawn(move || {
            for i in 0..20_000u32 {
                nc.publish("order.seq", i.to_be_bytes()).unwrap();
            }
        })
    };
    let nc = Arc::new(nc);
    for i in 0..300u32 {
        let reply = nc
            .request_timeout("order.svc", i.to_be_bytes(), WAIT)
            .unwrap();
        assert_eq!(&reply.payload[..], i.to_be_bytes(), "reply {i}");
    }
    publisher.join().unwrap();
    assert_eq!(responder.join().unwrap(), 300);
    for i in 0..20_000u32 {
        let m = next(&seq);
        assert_eq!(&m.payload[..], i.to_be_bytes(), "message {i} out of order");
    }
    assert_quiet(&nc, &seq);
}
