//! TLS on the client port: `tls://`, the upgrade a server asks for on `nats://`, `tls_first`,
//! and refusing a server whose certificate we cannot verify. (Without the `tls` feature:
//! tests/no_tls.rs.)
#![cfg(feature = "tls")]

use std::time::Duration;

use natsws::test_server::{NatsServer, Transport};
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
    // The cause is the source; `{:#}` prints the chain.
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
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

#[test]
fn only_added_roots_without_builtin_ones() {
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let nc = Options::new()
        .tls_builtin_roots(false)
        .add_root_certificate(server.ca_path())
        .connect(server.tcp_url().as_str())
        .unwrap();
    round_trip(&nc);
    let err = Options::new()
        .tls_builtin_roots(false)
        .connect(server.tcp_url().as_str())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOption, "{err}");
}

#[test]
fn ip_address_matches_an_ip_san() {
    for t in [Transport::Tcp, Transport::Wss] {
        let server = NatsServer::builder()
            .client_tls(true)
            .transport(t)
            .start()
            .unwrap();
        let scheme = if t == Transport::Tcp { "tls" } else { "wss" };
        let port = match t {
            Transport::Tcp => server.port(),
            _ => server.wss_port().expect("a wss listener"),
        };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let nc = Options::new()
            .add_root_certificate(server.ca_path())
            .connect(url.as_str())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        round_trip(&nc);
    }
}

/// The name checked is the URL's host: a certificate for `localhost` only does not do for
/// `127.0.0.1`, though both reach the same server.
#[test]
fn host_not_in_the_certificate_is_refused() {
    for t in [Transport::Tcp, Transport::Wss] {
        let server = NatsServer::builder()
            .client_tls(true)
            .transport(t)
            .server_cert_names(&["localhost"])
            .start()
            .unwrap();
        let scheme = if t == Transport::Tcp { "tls" } else { "wss" };
        let port = match t {
            Transport::Tcp => server.port(),
            _ => server.wss_port().expect("a wss listener"),
        };
        let opts = || Options::new().add_root_certificate(server.ca_path());
        let good = format!("{scheme}://localhost:{port}");
        round_trip(&opts().connect(good.as_str()).unwrap());
        let bad = format!("{scheme}://127.0.0.1:{port}");
        let err = opts().connect(bad.as_str()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{bad}: {err}");
        // The cause is the source; `{:#}` prints the chain.
        assert!(format!("{err:#}").contains("certificate"), "{err:#}");
    }
}

/// Mutual TLS on tls:// and wss://: with the client certificate (files or PEM bytes) the
/// server accepts; without it the server ends the TLS session. With TLS 1.3 the client's
/// handshake completes before the server checks the certificate, so the refusal arrives as a
/// TLS alert (`certificate required`) while waiting for the server's answer to CONNECT:
/// `ErrorKind::Tls` is what we see; `ErrorKind::Io` (a reset) would be the kind if the server's
/// TCP reset overtook its alert.
#[test]
fn mutual_tls() {
    for t in [Transport::Tcp, Transport::Wss] {
        let server = NatsServer::builder()
            .client_tls(true)
            .tls_verify(true)
            .transport(t)
            .start()
            .unwrap();
        let url = server.url(t).unwrap();
        let opts = || Options::new().add_root_certificate(server.ca_path());
        let nc = opts()
            .client_certificate(server.client_cert_path(), server.client_key_path())
            .connect(url.as_str())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        round_trip(&nc);
        let nc = opts()
            .client_certificate_pem(server.client_cert_pem(), server.client_key_pem())
            .connect(url.as_str())
            .unwrap();
        round_trip(&nc);
        let err = opts().connect(url.as_str()).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Tls | ErrorKind::Io),
            "{url}: {err}"
        );
        if err.kind() == ErrorKind::Tls {
            assert!(
                format!("{err:?}").contains("CertificateRequired"),
                "{err:?}"
            );
        }
    }
}

#[test]
fn bad_client_certificate_files_are_tls_errors() {
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let url = server.tcp_url();
    let opts = || Options::new().add_root_certificate(server.ca_path());
    let cases = [
        opts().client_certificate("/nonexistent/c.pem", server.client_key_path()),
        opts().client_certificate_pem("not pem", server.client_key_pem()),
        opts().client_certificate_pem(server.client_cert_pem(), "no key here"),
        // A key that does not belong to the certificate.
        opts().client_certificate_pem(server.ca_pem(), server.client_key_pem()),
    ];
    for o in cases {
        let err = o.connect(url.as_str()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(!format!("{err:?}").contains("PRIVATE KEY"), "{err:?}");
    }
}

/// An expert's own rustls configuration (cargo feature `rustls`).
#[cfg(feature = "rustls")]
#[test]
fn ready_rustls_client_config() {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let server = NatsServer::builder().client_tls(true).start().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(server.ca_pem().as_bytes()).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let nc = Options::new()
        .tls_client_config(std::sync::Arc::new(config))
        .connect(server.tcp_url().as_str())
        .unwrap();
    round_trip(&nc);
}
