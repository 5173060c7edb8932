//! TLS on the client port: `tls://`, the upgrade a server asks for on `nats://`, `tls_first`,
//! and refusing a server whose certificate we cannot verify.

use std::time::Duration;

use natsws::test_server::NatsServer;
use natsws::{ErrorKind, Options};

const WAIT: Duration = Duration::from_secs(5);

fn round_trip(nc: &natsws::Connection) {
    let sub = nc.subscribe("tls.check").unwrap();
    nc.flush().unwrap();
    nc.publish("tls.check", "secret sauce").unwrap();
    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(&m.payload[..], b"secret sauce");
}

#[test]
fn tls_url_with_private_ca() {
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let url = server.tcp_url();
    assert!(url.starts_with("tls://"), "{url}");
    let nc = Options::new()
        .add_root_certificate(server.ca_path())
        .connect(url.as_str())
        .unwrap();
    round_trip(&nc);
    assert!(nc.server_info().tls_required);
}

#[test]
fn nats_url_is_upgraded_when_the_server_requires_tls() {
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let url = format!("nats://localhost:{}", server.port());
    let nc = Options::new()
        .add_root_certificate_pem(server.ca_pem().as_bytes().to_vec())
        .connect(url.as_str())
        .unwrap();
    round_trip(&nc);
}

#[test]
fn tls_first_handshake() {
    let server = NatsServer::builder()
        .tls_handshake_first(true)
        .start()
        .unwrap();
    let url = format!("tls://localhost:{}", server.port());
    let nc = Options::new()
        .add_root_certificate(server.ca_path())
        .tls_first()
        .connect(url.as_str())
        .unwrap();
    round_trip(&nc);
}

#[test]
fn unknown_ca_is_refused() {
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let err = natsws::connect(server.tcp_url().as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn require_tls_against_a_plain_server_fails_clearly() {
    let server = NatsServer::start().unwrap();
    let err = Options::new()
        .require_tls(true)
        .connect(server.tcp_url().as_str())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

#[test]
fn bad_root_certificate_file_is_a_tls_error() {
    let server = NatsServer::start().unwrap();
    let err = Options::new()
        .add_root_certificate("/nonexistent/ca.pem")
        .connect(server.tcp_url().as_str())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let err = Options::new()
        .add_root_certificate_pem(b"not a pem".to_vec())
        .connect(server.tcp_url().as_str())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}
