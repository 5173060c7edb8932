//! Built without the `tls` feature: whatever needs TLS is refused with an error that names the
//! feature, before any byte is sent when the options or URLs ask for it, and at the attempt when
//! the server demands it. Plain `nats://` and `ws://` work, certificate options or not.
//! (With the feature: tests/tls.rs.)
#![cfg(not(feature = "tls"))]

use std::time::Duration;

use natsws::test_server::{NatsServer, Transport};
use natsws::{ErrorKind, Options};

const WAIT: Duration = Duration::from_secs(5);

#[track_caller]
fn assert_names_the_feature(err: &natsws::Error, kind: ErrorKind) {
    assert_eq!(err.kind(), kind, "{err}");
    assert!(err.to_string().contains("cargo feature `tls`"), "{err}");
}

#[test]
fn tls_and_wss_urls_are_invalid_options() {
    // Port 1 on loopback: nothing listens there, so a connection attempt would be an Io error.
    for url in [
        "tls://127.0.0.1:1",
        "wss://127.0.0.1:1",
        "nats://127.0.0.1:1,wss://127.0.0.1:1",
    ] {
        let err = natsws::connect(url).unwrap_err();
        assert_names_the_feature(&err, ErrorKind::InvalidOption);
    }
    // Also when the first attempt would be retried in the background.
    let err = Options::new()
        .retry_on_initial_connect()
        .connect("wss://127.0.0.1:1")
        .unwrap_err();
    assert_names_the_feature(&err, ErrorKind::InvalidOption);
}

#[test]
fn require_tls_and_tls_first_are_invalid_options() {
    let server = NatsServer::start().unwrap();
    let url = server.tcp_url();
    let err = Options::new()
        .require_tls(true)
        .connect(url.as_str())
        .unwrap_err();
    assert_names_the_feature(&err, ErrorKind::InvalidOption);
    assert!(err.to_string().contains("require_tls"), "{err}");
    let err = Options::new()
        .tls_first()
        .connect(url.as_str())
        .unwrap_err();
    assert_names_the_feature(&err, ErrorKind::InvalidOption);
    assert!(err.to_string().contains("tls_first"), "{err}");
}

#[test]
fn a_server_that_requires_tls_fails_the_attempt() {
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let url = format!("nats://localhost:{}", server.port());
    let err = natsws::connect(url.as_str()).unwrap_err();
    assert_names_the_feature(&err, ErrorKind::Tls);
    assert!(err.to_string().contains("requires TLS"), "{err}");
}

#[test]
fn plain_transports_work_and_certificate_options_are_unused() {
    for t in [Transport::Tcp, Transport::Ws] {
        let server = NatsServer::builder().transport(t).start().unwrap();
        let url = server.url(t).unwrap();
        let nc = Options::new()
            .add_root_certificate_pem(server.ca_pem().as_bytes().to_vec())
            .add_root_certificate("/nonexistent/ca.pem")
            .client_certificate("/nonexistent/cert.pem", "/nonexistent/key.pem")
            .connect(url.as_str())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let sub = nc.subscribe("plain.check").unwrap();
        nc.publish("plain.check", "hello").unwrap();
        let m = sub.next_timeout(WAIT).unwrap();
        assert_eq!(&m.payload[..], b"hello");
        assert!(!nc.server_info().tls_required);
        nc.close().unwrap();
    }
}
