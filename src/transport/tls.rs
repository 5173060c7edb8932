//! TLS with rustls. The session sits behind a lock held only while bytes already in memory are
//! encrypted or decrypted; the socket is read and written outside it, by the reader and the
//! writer threads on their own clones of the socket.
//!
//! Only the writer thread ever writes TLS records to the socket, so records leave in the order
//! they were made. When decrypting makes the session want to write (a key update), the reader
//! kicks the writer.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use zeroize::Zeroizing;

use super::tcp::{set_deadline, SocketWriter};
use super::{Kick, ReadHalf, WriteHalf};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{ClientCert, Options};
use crate::url::ServerUrl;

/// The TLS configuration of a connection, built once from the options.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    /// Built at `connect` when an option concerns TLS; else (the default configuration) at the
    /// first TLS handshake, so a connection that never uses TLS never builds one.
    config: OnceLock<Arc<ClientConfig>>,
}

impl TlsSetup {
    /// The TLS configuration the options describe: a ready rustls config (feature `rustls`),
    /// the one the certificate options describe (built now by the [`WithPem`] they stored), or
    /// verification against webpki's roots (built at the first TLS handshake; unless the roots
    /// are turned off, which fails here).
    pub(crate) fn from_options(opts: &Options) -> Result<TlsSetup> {
        let config = OnceLock::new();
        #[cfg(feature = "rustls")]
        if let Some(ready) = &opts.tls_client_config {
            let _ = config.set(ready.clone());
            return Ok(TlsSetup { config });
        }
        if let Some(with_pem) = opts.tls_pem {
            let _ = config.set(with_pem(opts)?);
        } else if !opts.tls_builtin_roots {
            // No roots at all: fails with a clear error.
            let _ = config.set(build_config(false)?);
        }
        Ok(TlsSetup { config })
    }

    /// The configuration, built now with the defaults if `from_options` left it for later.
    fn config(&self) -> Result<Arc<ClientConfig>> {
        if let Some(c) = self.config.get() {
            return Ok(c.clone());
        }
        let built = build_config(true)?;
        // Attempts run one at a time (the caller's first pass, then the supervisor's), so
        // nobody sets it meanwhile; were it otherwise, both values would be the defaults.
        Ok(self.config.get_or_init(|| built).clone())
    }
}

/// Builds TLS configurations from PEM: [`with_pem`]. Stored by the options that hand natsws
/// PEM (root certificates, a client certificate), so that PEM parsing and client key loading
/// are linked only into programs that call one of them.
pub(crate) type WithPem = fn(&Options) -> Result<Arc<ClientConfig>>;

/// Verifies servers against webpki's roots (if `builtin_roots`); no client certificate.
fn build_config(builtin_roots: bool) -> Result<Arc<ClientConfig>> {
    let builder = builder(roots(builtin_roots))?;
    Ok(Arc::new(builder.with_no_client_auth()))
}

fn roots(builtin_roots: bool) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if builtin_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

fn builder(
    roots: RootCertStore,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>> {
    if roots.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            "no root certificates: the built-in roots are off and none were added",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Tls, "TLS setup").with_source(e))?
        .with_root_certificates(roots))
}

/// The configuration the certificate options describe: webpki's roots (unless turned off) plus
/// the extra roots, with the client certificate if one is set. Files are read here, once per
/// `connect`, so a bad one is a `connect` error even when the URLs are plain.
pub(crate) fn with_pem(opts: &Options) -> Result<Arc<ClientConfig>> {
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p).map_err(|e| {
            Error::new(ErrorKind::Tls, format!("reading {what} {}", p.display())).with_source(e)
        })
    };
    let mut pems = opts.root_cert_pems.clone();
    for path in &opts.root_cert_paths {
        pems.push(read("root certificate", path)?);
    }
    let client = match &opts.client_cert {
        None => None,
        Some(ClientCert::Pem { cert, key }) => Some((cert.clone(), key.clone())),
        Some(ClientCert::Files { cert, key }) => Some((
            read("client certificate", cert)?,
            Zeroizing::new(read("client key", key)?),
        )),
    };
    build_config_with_pem(&pems, opts.tls_builtin_roots, client)
}

/// Verifies servers against webpki's roots (if `builtin_roots`) plus the extra PEM
/// certificates given; presents `client` (certificate chain PEM, key PEM) if set.
fn build_config_with_pem(
    extra_roots_pem: &[Vec<u8>],
    builtin_roots: bool,
    client: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
) -> Result<Arc<ClientConfig>> {
    let mut roots = roots(builtin_roots);
    for pem in extra_roots_pem {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                Error::new(ErrorKind::Tls, "bad PEM in root certificate").with_source(e)
            })?;
            roots.add(cert).map_err(|e| {
                Error::new(ErrorKind::Tls, "unusable root certificate").with_source(e)
            })?;
            found += 1;
        }
        if found == 0 {
            return Err(Error::new(
                ErrorKind::Tls,
                "no certificate found in the root certificate PEM",
            ));
        }
    }
    let builder = builder(roots)?;
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::new(ErrorKind::Tls, "bad PEM in the client certificate").with_source(e)
                })?;
            if chain.is_empty() {
                return Err(Error::new(
                    ErrorKind::Tls,
                    "no certificate found in the client certificate PEM",
                ));
            }
            // No source: a PEM error could quote the key's bytes.
            let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
                Error::new(
                    ErrorKind::Tls,
                    "no usable private key (PKCS#8, PKCS#1 RSA or SEC1 EC PEM) in the client key",
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::new(
                    ErrorKind::Tls,
                    format!("the client certificate and key do not fit together: {e}"),
                )
            })?
        }
    };
    Ok(Arc::new(config))
}

/// TLS on `sock`: the handshake within the deadline, then the reading and writing halves.
pub(crate) fn client(
    sock: TcpStream,
    url: &ServerUrl,
    setup: &TlsSetup,
    deadline: Instant,
    kick: Kick,
) -> Result<(Box<dyn ReadHalf>, Box<dyn WriteHalf>)> {
    let session = handshake(&sock, url, setup, deadline)?;
    let (r, w) = split(sock, session, kick)?;
    Ok((Box::new(r), Box::new(w)))
}

/// Runs the TLS handshake on `sock` within the deadline. The server name checked against the
/// certificate is the URL's host (never anything the server says about itself).
fn handshake(
    sock: &TcpStream,
    url: &ServerUrl,
    setup: &TlsSetup,
    deadline: Instant,
) -> Result<ClientConnection> {
    let name = ServerName::try_from(url.tls_name().to_string()).map_err(|e| {
        Error::new(
            ErrorKind::Tls,
            format!("'{}' is not a valid TLS server name", url.tls_name()),
        )
        .with_source(e)
    })?;
    let mut conn = ClientConnection::new(setup.config()?, name)
        .map_err(|e| Error::new(ErrorKind::Tls, "starting TLS").with_source(e))?;
    set_deadline(sock, Some(deadline))?;
    let mut s = sock;
    while conn.is_handshaking() {
        conn.complete_io(&mut s).map_err(|e| tls_io_error(e, url))?;
    }
    // Flush anything the handshake left to send (the client Finished in TLS 1.3).
    while conn.wants_write() {
        conn.write_tls(&mut s).map_err(|e| tls_io_error(e, url))?;
    }
    Ok(conn)
}

fn tls_io_error(e: io::Error, url: &ServerUrl) -> Error {
    let is_tls = e
        .get_ref()
        .map(|inner| inner.is::<rustls::Error>())
        .unwrap_or(false);
    if is_tls {
        Error::new(ErrorKind::Tls, format!("TLS handshake with {url} failed")).with_source(e)
    } else {
        Error::io(format!("TLS handshake with {url}"), e)
    }
}

type Session = Arc<Mutex<ClientConnection>>;

pub(crate) struct TlsRead {
    sock: TcpStream,
    session: Session,
    raw: Box<[u8]>,
    pos: usize,
    len: usize,
    kick: Kick,
}

pub(crate) struct TlsWrite {
    sock: SocketWriter,
    session: Session,
    out: Vec<u8>,
}

fn split(sock: TcpStream, mut conn: ClientConnection, kick: Kick) -> Result<(TlsRead, TlsWrite)> {
    // The writer drains the session right after each slice, so its buffer need not be capped.
    conn.set_buffer_limit(None);
    let w = sock
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    let session = Arc::new(Mutex::new(conn));
    Ok((
        TlsRead {
            sock,
            session: session.clone(),
            raw: vec![0u8; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            kick,
        },
        TlsWrite {
            sock: SocketWriter::new(w),
            session,
            out: Vec::new(),
        },
    ))
}

fn to_io(e: rustls::Error) -> io::Error {
    Error::new(ErrorKind::Tls, "TLS session failed")
        .with_source(e)
        .into_io()
}

impl ReadHalf for TlsRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut c = self.session.lock();
                match c.reader().read(buf) {
                    Ok(n) => return Ok(n), // 0: the server sent close_notify
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.pos < self.len {
                    let mut rd = &self.raw[self.pos..self.len];
                    let n = c.read_tls(&mut rd)?;
                    self.pos += n;
                    c.process_new_packets().map_err(to_io)?;
                    if c.wants_write() {
                        drop(c);
                        (self.kick)();
                    }
                    continue;
                }
            }
            // Nothing buffered: block on the socket with no lock held.
            let n = loop {
                match self.sock.read(&mut self.raw) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                return Ok(0);
            }
            self.pos = 0;
            self.len = n;
        }
    }
}

/// Plaintext is encrypted in slices of this size, so the reader never waits long for the lock.
const ENCRYPT_SLICE: usize = 256 * 1024;

impl WriteHalf for TlsWrite {
    fn write_tracked(&mut self, data: &[u8], sent: &mut usize) -> io::Result<()> {
        *sent = 0;
        let mut rest = data;
        loop {
            let take = rest.len().min(ENCRYPT_SLICE);
            self.out.clear();
            {
                let mut c = self.session.lock();
                if take > 0 {
                    c.writer().write_all(&rest[..take])?;
                }
                while c.wants_write() {
                    c.write_tls(&mut self.out)?;
                }
            }
            // Also when `out` is empty: bytes a write with a deadline left pending go first.
            self.sock.write_all(&self.out)?;
            *sent += take;
            rest = &rest[take..];
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    fn set_write_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.sock.set_deadline(deadline);
    }

    fn has_pending(&self) -> bool {
        self.sock.has_pending()
    }

    fn close(&mut self) {
        self.session.lock().send_close_notify();
        let _ = self.write_all(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup_error(opts: Options) -> Error {
        TlsSetup::from_options(&opts).err().expect("an error")
    }

    /// Each certificate option has its PEM read at `connect` (through what it stored), so bad
    /// PEM or a missing file is a `connect` error; the defaults build nothing until TLS is used.
    #[test]
    fn every_certificate_option_is_read_at_connect() {
        let setup = TlsSetup::from_options(&Options::new()).unwrap();
        assert!(setup.config.get().is_none());

        let missing = std::env::temp_dir().join("natsws-no-such-file.pem");
        for (option, opts, want) in [
            (
                "add_root_certificate",
                Options::new().add_root_certificate(&missing),
                "reading root certificate",
            ),
            (
                "add_root_certificate_pem",
                Options::new().add_root_certificate_pem(&b"not PEM"[..]),
                "no certificate found in the root certificate PEM",
            ),
            (
                "client_certificate",
                Options::new().client_certificate(&missing, &missing),
                "reading client certificate",
            ),
            (
                "client_certificate_pem",
                Options::new().client_certificate_pem(&b"not PEM"[..], &b"not a key"[..]),
                "no certificate found in the client certificate PEM",
            ),
        ] {
            let e = setup_error(opts);
            assert_eq!(e.kind(), ErrorKind::Tls, "{option}: {e}");
            assert!(e.to_string().contains(want), "{option}: {e}");
        }
    }

    #[test]
    fn no_roots_at_all_fails_at_connect() {
        let e = setup_error(Options::new().tls_builtin_roots(false));
        assert_eq!(e.kind(), ErrorKind::InvalidOption, "{e}");
        assert!(e.to_string().contains("no root certificates"), "{e}");
    }
}
