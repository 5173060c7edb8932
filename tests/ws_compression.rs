//! WebSocket compression (permessage-deflate) against a real nats-server with
//! `websocket { compression: true }`, over ws and wss. The bytes on the wire are counted by the
//! fault proxy of tests/common/proxy.rs, placed between the client and the server. (Without
//! the `ws_compression` feature the option is refused: see the options' unit tests.)
#![cfg(feature = "ws_compression")]

mod common;

use std::net::SocketAddr;

use common::proxy::Proxy;
use common::{next, WAIT};
use natsws::test_server::{NatsServer, Transport};
use natsws::{Connection, Options};

const MIB: usize = 1024 * 1024;

fn server(t: Transport, compression: bool) -> NatsServer {
    NatsServer::builder()
        .transport(t)
        .websocket_compression(compression)
        // Room for a 1 MiB payload plus its headers.
        .config("max_payload: 2MB")
        .start()
        .unwrap_or_else(|e| panic!("starting nats-server for {t:?}: {e}"))
}

fn ws_addr(server: &NatsServer, t: Transport) -> SocketAddr {
    let port = match t {
        Transport::Wss => server.wss_port(),
        _ => server.ws_port(),
    };
    SocketAddr::from(([127, 0, 0, 1], port.expect("a WebSocket listener")))
}

fn scheme(t: Transport) -> &'static str {
    match t {
        Transport::Wss => "wss",
        _ => "ws",
    }
}

fn opts(server: &NatsServer) -> Options {
    Options::new().add_root_certificate_pem(server.ca_pem().as_bytes().to_vec())
}

fn connect(opts: Options, url: &str) -> Connection {
    opts.connect(url)
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// JSON-like text: compresses well, as real payloads often do.
fn compressible(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while v.len() < len {
        v.extend_from_slice(
            format!("{{\"sensor\":\"s-{}\",\"seq\":{i},\"ok\":true}},", i % 50).as_bytes(),
        );
        i += 1;
    }
    v.truncate(len);
    v
}

fn random(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// Payloads of sizes around the frame and window boundaries, compressible and not, go both
/// ways between a compressing client, another compressing client and a plain one.
fn round_trips(t: Transport) {
    let server = server(t, true);
    let url = server.url(t).unwrap();
    let zipped = connect(opts(&server).ws_compression(true), &url);
    let other = connect(opts(&server).ws_compression(true), &url);
    let plain = connect(opts(&server), &url);
    let subs: Vec<_> = [&zipped, &other, &plain]
        .iter()
        .map(|nc| {
            let s = nc.subscribe("z.>").unwrap();
            nc.flush().unwrap();
            s
        })
        .collect();
    let sizes = [
        0, 1, 63, 64, 125, 126, 4096, 32768, 65535, 65536, 300_000, MIB,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        for payload in [compressible(size), random(size)] {
            // Each connection publishes in turn.
            let from = [&zipped, &other, &plain][i % 3];
            let subject = format!("z.{size}");
            from.publish(&subject, &payload).unwrap();
            for sub in &subs {
                let m = next(sub);
                assert_eq!(m.subject, subject);
                assert!(m.payload[..] == payload[..], "{size} bytes differ");
            }
        }
    }
    // Requests and replies too.
    let svc = zipped.subscribe("svc").unwrap();
    zipped.flush().unwrap();
    let responder = std::thread::spawn(move || {
        let m = svc.next_timeout(WAIT).unwrap();
        m.respond(m.payload.repeat(2)).unwrap();
    });
    let reply = plain
        .request_timeout("svc", compressible(5000), WAIT)
        .unwrap();
    assert_eq!(&reply.payload[..], &compressible(5000).repeat(2)[..]);
    responder.join().unwrap();
    for nc in [zipped, other, plain] {
        nc.close().unwrap();
    }
}

/// (client to server, server to client) bytes the proxy forwarded while a 1 MiB compressible
/// payload went from `nc` through the server back to `nc`.
fn wire_bytes_of_a_megabyte(proxy: &Proxy, nc: &Connection) -> (u64, u64) {
    let payload = compressible(MIB);
    let sub = nc.subscribe("big").unwrap();
    nc.flush().unwrap();
    let (up, down) = (proxy.bytes_up(), proxy.bytes_down());
    nc.publish("big", &payload).unwrap();
    let m = next(&sub);
    assert!(m.payload[..] == payload[..]);
    (proxy.bytes_up() - up, proxy.bytes_down() - down)
}

/// A compressible megabyte crosses the wire in under a tenth of its size each way; without
/// compression (the control) it takes all of it.
fn a_compressible_megabyte_crosses_in_a_fraction(t: Transport) {
    let server = server(t, true);
    let proxy = Proxy::start(ws_addr(&server, t));
    let url = proxy.url(scheme(t));
    let nc = connect(opts(&server), &url);
    let (up, down) = wire_bytes_of_a_megabyte(&proxy, &nc);
    nc.close().unwrap();
    assert!(
        up > MIB as u64 && down > MIB as u64,
        "plain: {up} up, {down} down"
    );
    let nc = connect(opts(&server).ws_compression(true), &url);
    let (up, down) = wire_bytes_of_a_megabyte(&proxy, &nc);
    nc.close().unwrap();
    eprintln!("{t:?}: 1 MiB payload: {up} bytes up, {down} bytes down with compression");
    assert!(up < (MIB / 10) as u64, "compressed: {up} bytes up");
    assert!(down < (MIB / 10) as u64, "compressed: {down} bytes down");
}

/// A server without `compression: true` does not answer the offer: plain frames, and it works.
fn a_server_without_compression_gets_plain_frames(t: Transport) {
    let server = server(t, false);
    let proxy = Proxy::start(ws_addr(&server, t));
    let nc = connect(opts(&server).ws_compression(true), &proxy.url(scheme(t)));
    let (up, down) = wire_bytes_of_a_megabyte(&proxy, &nc);
    assert!(up > MIB as u64 && down > MIB as u64, "{up} up, {down} down");
    nc.close().unwrap();
}

/// Compression survives a reconnect (negotiated again on the new WebSocket).
fn compression_after_a_reconnect(t: Transport) {
    let mut server = server(t, true);
    let proxy = Proxy::start(ws_addr(&server, t));
    let nc = connect(
        common::fast_reconnect(opts(&server).ws_compression(true)),
        &proxy.url(scheme(t)),
    );
    let events = nc.events();
    server.restart().unwrap();
    common::wait_reconnected(&events);
    let (up, down) = wire_bytes_of_a_megabyte(&proxy, &nc);
    assert!(
        up < (MIB / 10) as u64 && down < (MIB / 10) as u64,
        "{up} up, {down} down"
    );
    nc.close().unwrap();
}

/// nats-server refuses a compressed message that inflates past its `max_payload` (and closes
/// the connection): with a small one, coalesced publishes and a payload of exactly
/// `max_payload` must still go through, in several compressed messages.
fn a_small_max_payload_is_respected(t: Transport) {
    let server = NatsServer::builder()
        .transport(t)
        .websocket_compression(true)
        .config("max_payload: 2048")
        .start()
        .unwrap();
    let url = server.url(t).unwrap();
    let nc = connect(opts(&server).ws_compression(true).no_reconnect(), &url);
    let sub = nc.subscribe("small").unwrap();
    nc.flush().unwrap();
    let sizes: Vec<usize> = (0..200)
        .map(|i| (i * 37) % 2049)
        .chain([2048, 2048])
        .collect();
    for &n in &sizes {
        nc.publish("small", compressible(n)).unwrap();
    }
    for &n in &sizes {
        let m = next(&sub);
        assert!(m.payload[..] == compressible(n)[..], "{n} bytes");
    }
    nc.flush().unwrap();
    assert_eq!(nc.state(), natsws::State::Connected);
    nc.close().unwrap();
}

macro_rules! ws_and_wss {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use natsws::test_server::Transport;
                #[test]
                fn ws() {
                    super::$case(Transport::Ws)
                }
                #[test]
                #[cfg(feature = "tls")]
                fn wss() {
                    super::$case(Transport::Wss)
                }
            }
        )*
    };
}

ws_and_wss!(
    round_trips,
    a_compressible_megabyte_crosses_in_a_fraction,
    a_server_without_compression_gets_plain_frames,
    compression_after_a_reconnect,
    a_small_max_payload_is_respected,
);
