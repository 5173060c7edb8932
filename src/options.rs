//! Connection options: a by-value builder that ends in [`Options::connect`].

use std::fmt;
use std::path::PathBuf;
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::Backoff;
use zeroize::Zeroizing;

use crate::auth::{self, Auth, CallbackError};
use crate::connection::outbound::MAX_BUFFER;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::url::IntoServerList;

/// Default subscription pending limit in messages (nats.go's value).
pub const DEFAULT_PENDING_MSGS: usize = 500_000;
/// Default subscription pending limit in bytes (nats.go's value).
pub const DEFAULT_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// How to connect, and how the connection behaves.
///
/// Start from [`Options::new`], chain the setters you need and finish with
/// [`connect`](Options::connect). Every duration is a [`Duration`]. Nothing is validated until
/// `connect`, which returns an [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption)
/// error for a bad value rather than panicking.
///
/// ```no_run
/// use std::time::Duration;
/// # fn main() -> natsws::Result<()> {
/// let nc = natsws::Options::new()
///     .name("sensor-17")
///     .request_timeout(Duration::from_secs(2))
///     .connect("ws://127.0.0.1:8080")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) name: Option<String>,
    pub(crate) no_echo: bool,
    pub(crate) pedantic: bool,
    pub(crate) inbox_prefix: String,
    pub(crate) request_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_pings_out: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) pending_msgs: usize,
    pub(crate) pending_bytes: usize,
    pub(crate) max_control_line: usize,
    pub(crate) write_buffer: usize,
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) root_cert_paths: Vec<PathBuf>,
    pub(crate) root_cert_pems: Vec<Vec<u8>>,
    pub(crate) require_tls: bool,
    pub(crate) tls_first: bool,
    pub(crate) ws_headers: Vec<(String, String)>,
    pub(crate) allow_reconnect: bool,
    pub(crate) max_reconnects: Option<u32>,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Duration,
    pub(crate) jitter_tls: Duration,
    pub(crate) reconnect_buffer: usize,
    pub(crate) no_randomize: bool,
    pub(crate) ignore_discovered: bool,
    pub(crate) retry_on_initial_connect: bool,
    pub(crate) lame_duck_migration: bool,
    pub(crate) lame_duck_window: Duration,
    pub(crate) auth: Auth,
    /// Set with `auth` by the options that set it (see `set_auth`).
    pub(crate) auth_code: Option<&'static auth::AuthCode>,
    pub(crate) tls_builtin_roots: bool,
    pub(crate) client_cert: Option<ClientCert>,
    /// Set by the options that give PEM (roots, a client certificate): what builds the TLS
    /// configuration from it, so a program that sets none links no PEM parsing or key loading.
    pub(crate) tls_pem: Option<crate::transport::TlsWithPem>,
    #[cfg(feature = "rustls")]
    pub(crate) tls_client_config: Option<Arc<rustls::ClientConfig>>,
    pub(crate) ws_origin: Option<String>,
    pub(crate) ws_headers_callback: Option<auth::HeadersCallback>,
    /// `ws_compression(true)`: what reads the server's answer and builds the codecs. Stored by
    /// the option, so a program that never turns compression on links no deflate code.
    pub(crate) ws_compression: Option<crate::transport::WsCompression>,
    /// The proxy URL as given (it may carry credentials: wiped on drop, never printed).
    pub(crate) proxy: Option<Zeroizing<String>>,
    pub(crate) proxy_from_env: bool,
    /// Set by `proxy` and `proxy_from_env`: the proxy code, so a program that calls neither
    /// links none of it.
    pub(crate) proxy_code: Option<&'static crate::transport::ProxyCode>,
}

/// A client certificate chain and its private key, for mutual TLS.
// Without the `tls` feature the setters still take one (as a TLS build does for plain URLs,
// it is then never used), so the key is never read.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
#[derive(Clone)]
pub(crate) enum ClientCert {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    Pem {
        cert: Vec<u8>,
        key: Zeroizing<Vec<u8>>,
    },
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCert::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            ClientCert::Pem { cert, .. } => f
                .debug_struct("Pem")
                .field("cert_bytes", &cert.len())
                .field("key", &"<redacted>")
                .finish(),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: None,
            no_echo: false,
            pedantic: false,
            inbox_prefix: "_INBOX".to_string(),
            request_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(120),
            max_pings_out: 2,
            connect_timeout: Duration::from_secs(2),
            flush_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            pending_msgs: DEFAULT_PENDING_MSGS,
            pending_bytes: DEFAULT_PENDING_BYTES,
            max_control_line: 4096,
            write_buffer: 8 * 1024 * 1024,
            user: None,
            pass: None,
            token: None,
            root_cert_paths: Vec::new(),
            root_cert_pems: Vec::new(),
            require_tls: false,
            tls_first: false,
            ws_headers: Vec::new(),
            allow_reconnect: true,
            max_reconnects: Some(60),
            backoff: Backoff::default(),
            jitter: Duration::from_millis(100),
            jitter_tls: Duration::from_secs(1),
            reconnect_buffer: 8 * 1024 * 1024,
            no_randomize: false,
            ignore_discovered: false,
            retry_on_initial_connect: false,
            lame_duck_migration: true,
            lame_duck_window: Duration::from_secs(5),
            auth: Auth::None,
            auth_code: None,
            tls_builtin_roots: true,
            client_cert: None,
            tls_pem: None,
            #[cfg(feature = "rustls")]
            tls_client_config: None,
            ws_origin: None,
            ws_headers_callback: None,
            ws_compression: None,
            proxy: None,
            proxy_from_env: false,
            proxy_code: None,
        }
    }
}

impl Options {
    /// The defaults: the ones nats.go uses where natsws has the same knob.
    pub fn new() -> Options {
        Options::default()
    }

    /// A name for this connection, shown by the server's monitoring (`connz`).
    pub fn name(mut self, name: impl Into<String>) -> Options {
        self.name = Some(name.into());
        self
    }

    /// Do not deliver this connection's own publishes to its own subscriptions.
    pub fn no_echo(mut self) -> Options {
        self.no_echo = true;
        self
    }

    /// Ask the server for strict checking (`pedantic` in CONNECT). Off by default.
    pub fn pedantic(mut self, on: bool) -> Options {
        self.pedantic = on;
        self
    }

    /// The prefix of reply subjects for requests (default `_INBOX`). Requests use
    /// `<prefix>.<unique>.<token>`, so permissions can be scoped to it.
    pub fn inbox_prefix(mut self, prefix: impl Into<String>) -> Options {
        self.inbox_prefix = prefix.into();
        self
    }

    /// The timeout of [`Connection::request`] (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Options {
        self.request_timeout = timeout;
        self
    }

    /// How often the client pings the server to detect a dead connection (default 2 min;
    /// `Duration::ZERO` turns keepalive pings off).
    pub fn ping_interval(mut self, interval: Duration) -> Options {
        self.ping_interval = interval;
        self
    }

    /// How many pings may go unanswered before the connection is declared stale (default 2).
    pub fn max_pings_out(mut self, n: u32) -> Options {
        self.max_pings_out = n;
        self
    }

    /// The deadline for one connection attempt: TCP connect, TLS, the WebSocket upgrade and
    /// the NATS handshake together (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Options {
        self.connect_timeout = timeout;
        self
    }

    /// The timeout of [`Connection::flush`] and [`Connection::rtt`] (default 10 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Options {
        self.flush_timeout = timeout;
        self
    }

    /// The timeout of [`Connection::drain`] (default 30 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Options {
        self.drain_timeout = timeout;
        self
    }

    /// How long [`Connection::close`] (and dropping the last handle) waits for published
    /// messages to reach the server before closing anyway (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Options {
        self.close_timeout = timeout;
        self
    }

    /// Per-subscription limits on messages received but not yet taken (default 500,000
    /// messages and 64 MiB). Beyond them messages are dropped, counted, and reported as a slow
    /// consumer. `0` means no limit for that dimension.
    ///
    /// The byte limit counts what queued messages hold in memory: payload, headers, subject
    /// and reply, plus a fixed overhead per message (about 250 bytes: the message in the queue
    /// and its allocations), so it bounds the memory a subscriber that stops reading can cost.
    pub fn pending_limits(mut self, messages: usize, bytes: usize) -> Options {
        self.pending_msgs = messages;
        self.pending_bytes = bytes;
        self
    }

    /// The longest protocol control line accepted from the server (default 4096 bytes, the
    /// server's own limit).
    pub fn max_control_line(mut self, bytes: usize) -> Options {
        self.max_control_line = bytes;
        self
    }

    /// How many bytes of published messages may wait for the writer thread before `publish`
    /// blocks (default 8 MiB). This is back-pressure, not loss: nothing is dropped.
    pub fn write_buffer(mut self, bytes: usize) -> Options {
        self.write_buffer = bytes;
        self
    }

    /// Authenticate with a user name and password. A `user:pass@` in the URL takes precedence.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        pass: impl Into<String>,
    ) -> Options {
        self.user = Some(user.into());
        self.pass = Some(pass.into());
        self
    }

    /// Authenticate with a token. A `token@` in the URL takes precedence.
    pub fn token(mut self, token: impl Into<String>) -> Options {
        self.token = Some(token.into());
        self
    }

    /// Authenticate with a user NKey: `seed` is the user's seed (`SU…`). CONNECT carries the
    /// public key and the seed's signature of the server's nonce. Fails at connect with
    /// [`ErrorKind::Authorization`](crate::ErrorKind::Authorization) if the server sends no nonce (it does not do NKey
    /// authentication). The seed is wiped from memory when the options are dropped.
    ///
    /// NKey, JWT and creds settings replace each other: the last one set is used.
    pub fn nkey_seed(self, seed: impl Into<String>) -> Options {
        self.set_auth(Auth::NKeySeed(auth::Seed::new(Zeroizing::new(seed.into()))))
    }

    /// Authenticate with a user NKey whose seed natsws never sees: `sign` gets the server's
    /// nonce and returns the raw 64-byte Ed25519 signature (natsws encodes it). Called at every
    /// connection attempt.
    pub fn nkey(
        self,
        public_key: impl Into<String>,
        sign: impl Fn(&[u8]) -> std::result::Result<Vec<u8>, CallbackError> + Send + Sync + 'static,
    ) -> Options {
        self.set_auth(Auth::NKeyCallback {
            public_key: public_key.into(),
            sign: std::sync::Arc::new(sign),
        })
    }

    /// Authenticate with a user JWT and the user's NKey seed (decentralized auth). The seed is
    /// wiped from memory when the options are dropped.
    pub fn user_jwt_and_seed(self, jwt: impl Into<String>, seed: impl Into<String>) -> Options {
        self.set_auth(Auth::Jwt {
            jwt: jwt.into(),
            seed: auth::Seed::new(Zeroizing::new(seed.into())),
        })
    }

    /// Authenticate with a user JWT from callbacks, so secrets can live in a keystore or be
    /// fetched fresh: `jwt` returns the user JWT and `sign` signs the server's nonce (raw 64-byte
    /// Ed25519 signature). Both are called at every connection attempt; an error from either
    /// fails that attempt with [`ErrorKind::Authorization`](crate::ErrorKind::Authorization).
    pub fn user_jwt(
        self,
        jwt: impl Fn() -> std::result::Result<String, CallbackError> + Send + Sync + 'static,
        sign: impl Fn(&[u8]) -> std::result::Result<Vec<u8>, CallbackError> + Send + Sync + 'static,
    ) -> Options {
        self.set_auth(Auth::JwtCallback {
            jwt: std::sync::Arc::new(jwt),
            sign: std::sync::Arc::new(sign),
        })
    }

    /// Authenticate with a creds file (the user JWT and seed, as written by `nsc`). The file is
    /// read at every connection attempt, so it can be replaced while the client runs. An
    /// unreadable or malformed file is an [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) error.
    pub fn credentials_file(self, path: impl Into<PathBuf>) -> Options {
        self.set_auth(Auth::CredsFile(path.into(), auth::sign_with_seed))
    }

    /// Authenticate with the contents of a creds file. Wiped from memory when the options are
    /// dropped.
    pub fn credentials(self, creds: impl Into<String>) -> Options {
        self.set_auth(Auth::Creds(
            Zeroizing::new(creds.into()),
            auth::sign_with_seed,
        ))
    }

    /// Trust the CA certificates in this PEM file, in addition to the built-in web roots (or
    /// instead of them, see [`tls_builtin_roots`](Options::tls_builtin_roots)).
    /// The file is read when connecting.
    ///
    /// This and the other certificate options take effect on TLS connections only: with plain
    /// `nats://` and `ws://` URLs, and in a build without the `tls` feature (which refuses TLS
    /// URLs), they are not used.
    pub fn add_root_certificate(mut self, pem_path: impl Into<PathBuf>) -> Options {
        self.root_cert_paths.push(pem_path.into());
        self.tls_pem = Some(crate::transport::tls_with_pem);
        self
    }

    /// Trust the CA certificates in these PEM bytes, in addition to the built-in web roots.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Options {
        self.root_cert_pems.push(pem.into());
        self.tls_pem = Some(crate::transport::tls_with_pem);
        self
    }

    /// Whether to trust the built-in web roots (Mozilla's root store, compiled in; default on).
    /// `false` trusts only the certificates added with
    /// [`add_root_certificate`](Options::add_root_certificate) and
    /// [`add_root_certificate_pem`](Options::add_root_certificate_pem).
    pub fn tls_builtin_roots(mut self, on: bool) -> Options {
        self.tls_builtin_roots = on;
        self
    }

    /// Present this client certificate (mutual TLS) on `tls://` and `wss://` connections: the
    /// certificate chain and its private key (PKCS#8, PKCS#1 RSA or SEC1 EC), as PEM files. Read
    /// when connecting.
    pub fn client_certificate(
        mut self,
        cert_pem_path: impl Into<PathBuf>,
        key_pem_path: impl Into<PathBuf>,
    ) -> Options {
        self.client_cert = Some(ClientCert::Files {
            cert: cert_pem_path.into(),
            key: key_pem_path.into(),
        });
        self.tls_pem = Some(crate::transport::tls_with_pem);
        self
    }

    /// Like [`client_certificate`](Options::client_certificate), from PEM bytes. The key bytes
    /// are wiped from memory when the options are dropped.
    pub fn client_certificate_pem(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Options {
        self.client_cert = Some(ClientCert::Pem {
            cert: cert_pem.into(),
            key: Zeroizing::new(key_pem.into()),
        });
        self.tls_pem = Some(crate::transport::tls_with_pem);
        self
    }

    /// Use this rustls configuration for every TLS connection, instead of the one natsws builds
    /// from the other TLS options (roots, client certificate), which are then ignored. The server
    /// name is still the URL's host.
    ///
    /// Cargo feature `rustls`. This method is tied to rustls's major version (0.23): a rustls
    /// upgrade changes it, independently of natsws's own version.
    #[cfg(feature = "rustls")]
    pub fn tls_client_config(mut self, config: Arc<rustls::ClientConfig>) -> Options {
        self.tls_client_config = Some(config);
        self
    }

    /// Require TLS even for `nats://` and `ws://` URLs.
    ///
    /// Without the `tls` feature, `connect` fails with
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) when this is on.
    pub fn require_tls(mut self, on: bool) -> Options {
        self.require_tls = on;
        self
    }

    /// Start TLS before the server sends INFO (the server must have `handshake_first`).
    /// Implies TLS.
    ///
    /// Without the `tls` feature, `connect` fails with
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) when this is set.
    pub fn tls_first(mut self) -> Options {
        self.tls_first = true;
        self
    }

    /// An extra HTTP header for the WebSocket upgrade request (e.g. `Authorization`,
    /// `Cookie`, `Origin`). The name must be an HTTP token other than the headers natsws writes
    /// itself (`Host`, `Connection`, `Upgrade`, `Sec-WebSocket-Version`, `Sec-WebSocket-Key`),
    /// the value free of control characters but tab; `connect` says
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) otherwise (as it does for
    /// such a header from [`websocket_headers_callback`](Options::websocket_headers_callback)).
    pub fn websocket_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Options {
        self.ws_headers.push((name.into(), value.into()));
        self
    }

    /// Never reconnect: a lost connection is closed for good.
    pub fn no_reconnect(mut self) -> Options {
        self.allow_reconnect = false;
        self
    }

    /// How many failed attempts in a row a server may have before it leaves the pool
    /// (default 60, as nats.go; `None`: keep trying forever). When the pool is empty the
    /// connection closes.
    pub fn max_reconnects(mut self, attempts: Option<u32>) -> Options {
        self.max_reconnects = attempts;
        self
    }

    /// The wait after each full pass over the pool while reconnecting (default 2 s), plus
    /// jitter. Shorthand for `reconnect_backoff(Backoff::Constant(wait))`.
    pub fn reconnect_wait(mut self, wait: Duration) -> Options {
        self.backoff = Backoff::Constant(wait);
        self
    }

    /// The random jitter added to each wait: up to `plain` (default 100 ms), or up to `tls`
    /// (default 1 s) when the pool uses TLS.
    pub fn reconnect_jitter(mut self, plain: Duration, tls: Duration) -> Options {
        self.jitter = plain;
        self.jitter_tls = tls;
        self
    }

    /// The waits between passes: constant (the default), capped linear, capped exponential,
    /// or your own function. See [`Backoff`].
    pub fn reconnect_backoff(mut self, backoff: Backoff) -> Options {
        self.backoff = backoff;
        self
    }

    /// The wait after failed pass `n` (from 1) is `f(n)`, with no jitter added.
    pub fn reconnect_delay(
        mut self,
        f: impl Fn(u32) -> Duration + Send + Sync + 'static,
    ) -> Options {
        self.backoff = Backoff::custom(f);
        self
    }

    /// How many bytes of publishes are kept while disconnected, to be sent after reconnecting
    /// (default 8 MiB). Past it `publish` fails with [`ErrorKind::BufferFull`](crate::ErrorKind::BufferFull);
    /// with `0` it fails at once with [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected).
    pub fn reconnect_buffer_size(mut self, bytes: usize) -> Options {
        self.reconnect_buffer = bytes;
        self
    }

    /// Try the servers in the order given instead of shuffling them.
    pub fn no_randomize(mut self) -> Options {
        self.no_randomize = true;
        self
    }

    /// Ignore the servers the cluster announces; use only the URLs given.
    pub fn ignore_discovered_servers(mut self) -> Options {
        self.ignore_discovered = true;
        self
    }

    /// `connect` returns at once, even if no server answers yet, and the connection keeps
    /// trying in the background (nats.ws `waitOnFirstConnect`). Publishes are buffered and
    /// subscriptions registered meanwhile.
    pub fn retry_on_initial_connect(mut self) -> Options {
        self.retry_on_initial_connect = true;
        self
    }

    /// When the server announces lame duck mode, move to another server of the pool at a
    /// random moment within [`lame_duck_window`](Options::lame_duck_window) (default on; off:
    /// only report [`Event::LameDuckMode`](crate::Event::LameDuckMode), as nats.go does).
    pub fn lame_duck_migration(mut self, on: bool) -> Options {
        self.lame_duck_migration = on;
        self
    }

    /// The window in which a lame duck migration happens (default 5 s; the server starts
    /// evicting clients after its grace period, 10 s by default).
    pub fn lame_duck_window(mut self, window: Duration) -> Options {
        self.lame_duck_window = window;
        self
    }

    /// The `Origin` header of the WebSocket upgrade request (for servers with `same_origin` or
    /// `allowed_origins`), e.g. `"https://app.example.com"`.
    pub fn websocket_origin(mut self, origin: impl Into<String>) -> Options {
        self.ws_origin = Some(origin.into());
        self
    }

    /// Extra HTTP headers for the WebSocket upgrade request, from a callback called at every
    /// connection attempt (e.g. a fresh `Authorization: Bearer …` or a `Cookie` for the server's
    /// `jwt_cookie`/`token_cookie`/`user_cookie`). They come after the static
    /// [`websocket_header`](Options::websocket_header)s. An error fails that attempt with
    /// [`ErrorKind::WebSocket`](crate::ErrorKind::WebSocket).
    pub fn websocket_headers_callback(
        mut self,
        headers: impl Fn() -> std::result::Result<Vec<(String, String)>, CallbackError>
            + Send
            + Sync
            + 'static,
    ) -> Options {
        self.ws_headers_callback = Some(std::sync::Arc::new(headers));
        self
    }

    /// Offer WebSocket compression (permessage-deflate, RFC 7692) on `ws://` and `wss://`
    /// connections (default off, as in nats.go). nats-server accepts it when its `websocket`
    /// block has `compression: true`; a server that does not answer the offer gets plain frames,
    /// so turning this on is always safe.
    ///
    /// When agreed, messages of 64 bytes or more are deflated (a fast level, no context kept
    /// between messages, as nats-server expects) and sent compressed only if that makes them
    /// smaller; the server compresses what it sends the same way. What the server sends is
    /// inflated as it arrives, with a bound: one WebSocket message inflating past 128 MiB is a
    /// decompression bomb, and an [`ErrorKind::Protocol`](crate::ErrorKind::Protocol) error. It pays on slow links and
    /// with compressible payloads (JSON, text); on loopback or with already compressed
    /// payloads it costs CPU for nothing. TCP (`nats://`, `tls://`) is unaffected.
    ///
    /// Cargo feature `ws_compression` (on by default): without it, `connect` fails with
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) when this is on.
    pub fn ws_compression(mut self, on: bool) -> Options {
        self.ws_compression = on.then_some(crate::transport::ws_compression as _);
        self
    }

    /// Reach every server through this HTTP proxy, with `CONNECT` tunnels:
    /// `http://[user:password@]host[:port]` (port 1080 when omitted, as curl; user and password
    /// percent-encoded, sent as `Proxy-Authorization: Basic`). Works for `nats://`, `tls://`,
    /// `ws://` and `wss://` URLs alike; TLS runs end to end through the tunnel and verifies the
    /// NATS server's name, never the proxy's. Resolving and connecting to the proxy, and its
    /// answer, count against [`connect_timeout`](Options::connect_timeout).
    ///
    /// A proxy that refuses the tunnel (`407`, `403`, …) fails the attempt with
    /// [`ErrorKind::Proxy`](crate::ErrorKind::Proxy), quoting its status line. The URL is
    /// checked by [`connect`](Options::connect); the credentials never appear in `Debug`
    /// output, errors or logs. This overrides [`proxy_from_env`](Options::proxy_from_env).
    /// Servers the cluster announces are reached through the proxy too (see
    /// [`ignore_discovered_servers`](Options::ignore_discovered_servers)).
    pub fn proxy(mut self, url: impl Into<String>) -> Options {
        self.proxy = Some(Zeroizing::new(url.into()));
        self.proxy_code = Some(&crate::transport::PROXY);
        self
    }

    /// Take the HTTP proxy from the environment, as curl does (default off). The variables are
    /// read at every connection attempt, lowercase name first, an empty value meaning unset:
    ///
    /// * `wss://` and `tls://` servers: `https_proxy` or `HTTPS_PROXY`;
    /// * `ws://` and `nats://` servers: `http_proxy` (lowercase only: like curl, natsws ignores
    ///   `HTTP_PROXY`, which a CGI program may inherit from a request header);
    /// * otherwise `all_proxy` or `ALL_PROXY`;
    /// * no proxy when the server's host matches `no_proxy` or `NO_PROXY`: a comma-separated
    ///   list where `*` matches everything, a name matches itself and its subdomains
    ///   (`example.com` or `.example.com`), an IP address matches itself and `addr/bits` a CIDR
    ///   range. Names are not resolved, so `localhost` does not cover `127.0.0.1`.
    ///
    /// The values take the form [`proxy`](Options::proxy) takes (`http://` or no scheme); any
    /// other (`socks5://`, `https://`) fails with
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) rather than silently
    /// connecting directly.
    pub fn proxy_from_env(mut self, on: bool) -> Options {
        self.proxy_from_env = on;
        self.proxy_code = Some(&crate::transport::PROXY);
        self
    }

    /// Connects to one of `servers`: one URL, a comma-separated list, or a slice. They form
    /// the server pool (shuffled unless [`no_randomize`](Options::no_randomize)); each is
    /// tried once, and the first that answers is used, unless
    /// [`retry_on_initial_connect`](Options::retry_on_initial_connect) says to keep trying in
    /// the background. Schemes: `nats://` (TCP), `tls://`, `ws://`, `wss://`, mixed as you
    /// like; a URL without a scheme means `nats://` (note: nats.ws assumes `wss://` instead).
    ///
    /// Every option is checked first: a value that cannot work fails with
    /// [`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption) naming the option.
    pub fn connect(self, servers: impl IntoServerList) -> Result<Connection> {
        self.validate()?;
        self.check_auth()?;
        Connection::connect_with(self, servers.into_server_list())
    }

    /// Refuses values that cannot work, naming the option.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |option: &str, why: &str| {
            Err(Error::new(
                ErrorKind::InvalidOption,
                format!("{option}: {why}"),
            ))
        };
        if crate::subject::validate_publish(&self.inbox_prefix).is_err() {
            return bad(
                "inbox_prefix",
                "must be a subject without wildcards or whitespace (like \"_INBOX\")",
            );
        }
        for (option, d) in [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("flush_timeout", self.flush_timeout),
        ] {
            if d.is_zero() {
                return bad(option, "must be longer than zero");
            }
        }
        if self.max_pings_out == 0 {
            return bad("max_pings_out", "must be at least 1");
        }
        if self.max_control_line < MIN_CONTROL_LINE {
            return bad(
                "max_control_line",
                &format!("must be at least {MIN_CONTROL_LINE} bytes"),
            );
        }
        if self.write_buffer == 0 || self.write_buffer > MAX_BUFFER {
            return bad(
                "write_buffer",
                &format!("must be between 1 byte and {MAX_BUFFER} bytes"),
            );
        }
        if self.reconnect_buffer > MAX_BUFFER {
            return bad(
                "reconnect_buffer_size",
                &format!("must be at most {MAX_BUFFER} bytes (0 turns it off)"),
            );
        }
        for (name, value) in &self.ws_headers {
            if let Err(why) = crate::transport::check_extra_header(name, value) {
                return bad("websocket_header", &why);
            }
        }
        if let Some(origin) = &self.ws_origin {
            if crate::transport::check_extra_header("Origin", origin).is_err() {
                return bad("websocket_origin", "has a control character");
            }
        }
        #[cfg(not(feature = "ws_compression"))]
        if self.ws_compression.is_some() {
            return bad(
                "ws_compression",
                "this build of natsws has no WebSocket compression (cargo feature `ws_compression`)",
            );
        }
        crate::transport::check_proxy(self)?;
        Ok(())
    }

    /// Sets the NKey/JWT credentials, and the code that handles them (so a program that sets
    /// none links none of it).
    fn set_auth(mut self, auth: Auth) -> Options {
        self.auth = auth;
        self.auth_code = Some(&auth::AUTH);
        self
    }

    /// Fails early on credentials that cannot work (a malformed seed or creds text, or a seed
    /// in a build without the `nkeys` feature).
    pub(crate) fn check_auth(&self) -> Result<()> {
        match self.auth_code {
            Some(code) => (code.check)(&self.auth),
            None => Ok(()),
        }
    }

    /// The NKey/JWT part of CONNECT for one attempt (see [`Auth::prove`]).
    pub(crate) fn prove_auth(&self, nonce: Option<&str>, server: &str) -> Result<auth::Proof> {
        match self.auth_code {
            Some(code) => (code.prove)(&self.auth, nonce, server),
            None => Ok(auth::Proof::default()),
        }
    }
}

fn redacted(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("name", &self.name)
            .field("no_echo", &self.no_echo)
            .field("pedantic", &self.pedantic)
            .field("inbox_prefix", &self.inbox_prefix)
            .field("request_timeout", &self.request_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("max_pings_out", &self.max_pings_out)
            .field("connect_timeout", &self.connect_timeout)
            .field("flush_timeout", &self.flush_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("pending_msgs", &self.pending_msgs)
            .field("pending_bytes", &self.pending_bytes)
            .field("max_control_line", &self.max_control_line)
            .field("write_buffer", &self.write_buffer)
            .field("user", &self.user)
            .field("pass", &redacted(&self.pass))
            .field("token", &redacted(&self.token))
            .field("root_cert_paths", &self.root_cert_paths)
            .field("root_cert_pems", &self.root_cert_pems.len())
            .field("require_tls", &self.require_tls)
            .field("tls_first", &self.tls_first)
            .field("allow_reconnect", &self.allow_reconnect)
            .field("max_reconnects", &self.max_reconnects)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("jitter_tls", &self.jitter_tls)
            .field("reconnect_buffer", &self.reconnect_buffer)
            .field("no_randomize", &self.no_randomize)
            .field("ignore_discovered", &self.ignore_discovered)
            .field("retry_on_initial_connect", &self.retry_on_initial_connect)
            .field("lame_duck_migration", &self.lame_duck_migration)
            .field("lame_duck_window", &self.lame_duck_window)
            .field("tls_builtin_roots", &self.tls_builtin_roots)
            .field("client_cert", &self.client_cert)
            .field(
                "ws_headers",
                &self
                    .ws_headers
                    .iter()
                    .map(|(k, _)| (k.as_str(), "<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("ws_origin", &self.ws_origin)
            .field("ws_headers_callback", &self.ws_headers_callback.is_some())
            .field("ws_compression", &self.ws_compression.is_some())
            .field(
                "proxy",
                &self
                    .proxy
                    .as_ref()
                    .map(|p| crate::transport::Proxy::parse(p).map_err(|_| "<invalid>")),
            )
            .field("proxy_from_env", &self.proxy_from_env)
            .field("auth", &self.auth)
            .finish()
    }
}

/// The shortest control line limit that still fits INFO and MSG lines of ordinary subjects.
const MIN_CONTROL_LINE: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invalid_option_is_refused_by_name() {
        let cases: Vec<(Options, &str)> = vec![
            (Options::new().inbox_prefix("my inbox"), "inbox_prefix"),
            (Options::new().inbox_prefix(""), "inbox_prefix"),
            (Options::new().inbox_prefix("_INBOX.*"), "inbox_prefix"),
            (
                Options::new().request_timeout(Duration::ZERO),
                "request_timeout",
            ),
            (
                Options::new().connect_timeout(Duration::ZERO),
                "connect_timeout",
            ),
            (
                Options::new().flush_timeout(Duration::ZERO),
                "flush_timeout",
            ),
            (Options::new().max_pings_out(0), "max_pings_out"),
            (Options::new().max_control_line(10), "max_control_line"),
            (Options::new().write_buffer(0), "write_buffer"),
            (Options::new().write_buffer(MAX_BUFFER + 1), "write_buffer"),
            (
                Options::new().reconnect_buffer_size(MAX_BUFFER + 1),
                "reconnect_buffer_size",
            ),
            (
                Options::new().websocket_header("X Bad", "v"),
                "websocket_header",
            ),
            (
                Options::new().websocket_header("X-Ok", "a\r\nb"),
                "websocket_header",
            ),
            (
                Options::new().websocket_header("X-Ok", "a\u{7f}b"),
                "websocket_header",
            ),
            (
                Options::new().websocket_header("sec-websocket-key", "x"),
                "websocket_header",
            ),
            (
                Options::new().websocket_origin("http://a\r\n"),
                "websocket_origin",
            ),
            (Options::new().proxy("socks5://h:1080"), "proxy"),
            (Options::new().proxy("http://u:p@h:99999"), "proxy"),
        ];
        for (o, name) in cases {
            let e = o.validate().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOption, "{name}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        Options::new().validate().unwrap();
        Options::new()
            .inbox_prefix("_MY.INBOX")
            .write_buffer(1)
            .reconnect_buffer_size(0)
            .validate()
            .unwrap();
    }

    #[test]
    #[cfg(not(feature = "ws_compression"))]
    fn ws_compression_needs_its_feature() {
        let e = Options::new().ws_compression(true).validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOption);
        let text = e.to_string();
        assert!(text.contains("cargo feature `ws_compression`"), "{text}");
        Options::new().ws_compression(false).validate().unwrap();
    }

    /// The proxy code is reached only through what these options store: without it the proxy
    /// URL would never be checked or used, nor the environment read.
    #[test]
    fn proxy_options_store_the_proxy_code() {
        assert!(Options::new().proxy_code.is_none());
        assert!(Options::new().proxy("http://h:3128").proxy_code.is_some());
        assert!(Options::new().proxy_from_env(true).proxy_code.is_some());
        let e = Options::new()
            .proxy("socks5://h:1080")
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("bad proxy URL"), "{e}");
    }

    #[test]
    fn debug_hides_secrets() {
        let o = Options::new()
            .user_and_password("alice", "pw-s3cret")
            .token("tok-s3cret")
            .websocket_header("Authorization", "Bearer hdr-s3cret")
            .proxy("http://proxy-user:proxy-s3cret@proxy.example:3128");
        let s = format!("{o:?}");
        assert!(!s.contains("s3cret"), "{s}");
        // Not even encoded (the Basic credentials).
        assert!(!s.contains(&data_encoding::BASE64.encode(b"proxy-user:proxy-s3cret")));
        assert!(s.contains("alice") && s.contains("Authorization"));
        assert!(s.contains("proxy.example") && s.contains("3128"), "{s}");
        // An invalid proxy URL is not printed at all (it may hold credentials).
        let s = format!("{:?}", Options::new().proxy("ftp://u:s3cret@h"));
        assert!(!s.contains("s3cret"), "{s}");
        let e = Options::new()
            .proxy("ftp://u:s3cret@h")
            .validate()
            .unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
