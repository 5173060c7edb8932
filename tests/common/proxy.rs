//! A fault-injecting loopback TCP proxy for reconnect tests, and a black hole listener.
//!
//! [`Proxy::start`] listens on `127.0.0.1:0` and forwards every accepted connection to an
//! upstream address with two threads per connection (one per direction). Faults apply at once
//! to the connections they concern:
//!
//! * [`Proxy::freeze`] / [`Proxy::thaw`]: stop / resume forwarding in both directions; the
//!   sockets stay open, so the peers see a silent connection (at most one read chunk per
//!   direction is held meanwhile, then TCP flow control pushes back);
//! * [`Proxy::cut`]: close every current connection, both sides;
//! * [`Proxy::truncate_after`]: forward `n` more server-to-client bytes, then cut;
//! * [`Proxy::delay`]: hold every chunk for a while before forwarding it;
//! * [`Proxy::refuse`]: accept new connections and close them at once.
//!
//! [`Proxy::bytes_up`] and [`Proxy::bytes_down`] count what it forwarded (e.g. to see how
//! much compression saved on the wire).
//!
//! Dropping the proxy stops listening, closes every connection and joins its threads (waiting
//! at most two seconds). Nothing polls: the threads block in `accept`, `read`, `write` or on a
//! condition variable, and closing a socket (shutdown) wakes them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The largest chunk a forwarding thread reads (and holds) at once.
const CHUNK: usize = 16 * 1024;
/// How long the proxy tries to reach the upstream for a new connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `Drop` waits for the threads to end.
const DROP_JOIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP proxy on loopback that can freeze, cut, truncate, delay and refuse connections.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken on every control change and when a connection closes.
    changed: Condvar,
    stop: AtomicBool,
    accepted: AtomicUsize,
    next_id: AtomicU64,
    /// Bytes forwarded client to server, and server to client.
    up: AtomicU64,
    down: AtomicU64,
}

struct State {
    upstream: SocketAddr,
    frozen: bool,
    delay: Duration,
    refuse: bool,
    /// Open connections.
    conns: Vec<Arc<Conn>>,
    /// Forwarding threads (finished ones are pruned on every accept).
    threads: Vec<JoinHandle<()>>,
}

/// One proxied connection: the accepted client socket and the socket to the upstream.
struct Conn {
    id: u64,
    client: TcpStream,
    server: TcpStream,
    closed: AtomicBool,
    /// Server-to-client bytes still allowed before the connection is cut (`None`: no limit).
    budget: Mutex<Option<usize>>,
    /// Forwarding threads still running; the last one unregisters the connection.
    pumps: AtomicUsize,
}

impl Conn {
    /// Close both sockets; wakes the threads blocked on them.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Proxy {
    /// Listen on `127.0.0.1:0` and forward every connection to `upstream`. Panics if it cannot
    /// listen (this is test infrastructure).
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("proxy: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("proxy: local address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                upstream,
                frozen: false,
                delay: Duration::ZERO,
                refuse: false,
                conns: Vec::new(),
                threads: Vec::new(),
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("proxy-accept-{}", addr.port()))
                .spawn(move || accept_loop(listener, shared))
                .expect("proxy: spawn the accept thread")
        };
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `"{scheme}://127.0.0.1:PORT"`, e.g. `url("ws")`. (The test server's certificates
    /// include `127.0.0.1`, so `wss` and `tls` verify too.)
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Send new connections to `upstream` from now on (current ones stay where they are).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.shared.lock().upstream = upstream;
    }

    /// Stop forwarding in both directions on every connection, current and new; the sockets
    /// stay open (a silent peer). Bytes read already are held until [`Proxy::thaw`].
    pub fn freeze(&self) {
        self.shared.lock().frozen = true;
        self.shared.changed.notify_all();
    }

    /// Resume forwarding after [`Proxy::freeze`].
    pub fn thaw(&self) {
        self.shared.lock().frozen = false;
        self.shared.changed.notify_all();
    }

    /// Close every current connection (both the client's and the upstream socket) at once.
    /// New connections are still accepted and forwarded.
    pub fn cut(&self) {
        let conns = self.shared.lock().conns.clone();
        for conn in &conns {
            conn.close();
        }
        self.shared.changed.notify_all();
    }

    /// On every current connection, forward at most `n` more bytes from the server to the
    /// client, then close the connection (e.g. in the middle of a WebSocket frame). `n == 0`
    /// cuts at once.
    pub fn truncate_after(&self, n: usize) {
        let conns = self.shared.lock().conns.clone();
        for conn in &conns {
            *conn.budget.lock().unwrap() = Some(n);
            if n == 0 {
                conn.close();
            }
        }
        self.shared.changed.notify_all();
    }

    /// Hold every chunk `d` before forwarding it, in both directions (`Duration::ZERO`: no
    /// delay). Applies to chunks read from now on.
    pub fn delay(&self, d: Duration) {
        self.shared.lock().delay = d;
        self.shared.changed.notify_all();
    }

    /// While on, new connections are accepted and closed at once (without reaching upstream).
    pub fn refuse(&self, on: bool) {
        self.shared.lock().refuse = on;
    }

    /// Connections accepted so far (refused ones included).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Bytes forwarded from clients to the upstream so far (all connections).
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Bytes forwarded from the upstream to clients so far (all connections).
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// Connections currently open (forwarded and not yet closed by either side or the proxy).
    pub fn active(&self) -> usize {
        self.shared.lock().conns.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; the accept thread then drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let deadline = Instant::now() + DROP_JOIN_TIMEOUT;
        if let Some(acceptor) = self.acceptor.take() {
            join_until(acceptor, deadline);
        }
        let (conns, threads) = {
            let mut state = self.shared.lock();
            (state.conns.clone(), std::mem::take(&mut state.threads))
        };
        for conn in &conns {
            conn.close();
        }
        self.shared.changed.notify_all();
        for t in threads {
            join_until(t, deadline);
        }
    }
}

/// Join `t` if it finishes before `deadline`; otherwise leave it (detached).
fn join_until(t: JoinHandle<()>, deadline: Instant) {
    while !t.is_finished() {
        if Instant::now() >= deadline {
            eprintln!("proxy: thread {:?} did not end in time", t.thread().name());
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = t.join();
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let client = match accepted {
            Ok((client, _)) => client,
            Err(e) => {
                // E.g. out of file descriptors; do not spin.
                eprintln!("proxy: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let (refuse, upstream) = {
            let state = shared.lock();
            (state.refuse, state.upstream)
        };
        if refuse {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let server = match TcpStream::connect_timeout(&upstream, UPSTREAM_CONNECT_TIMEOUT) {
            Ok(s) => s,
            Err(_) => {
                // The client sees the connection close, as if the server were down.
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        if let Err(e) = start_conn(&shared, client, server) {
            eprintln!("proxy: cannot forward a connection: {e}");
        }
    }
}

fn start_conn(shared: &Arc<Shared>, client: TcpStream, server: TcpStream) -> io::Result<()> {
    let conn = Arc::new(Conn {
        id: shared.next_id.fetch_add(1, Ordering::SeqCst),
        client,
        server,
        closed: AtomicBool::new(false),
        budget: Mutex::new(None),
        pumps: AtomicUsize::new(2),
    });
    let mut state = shared.lock();
    state.threads.retain(|t| !t.is_finished());
    state.conns.push(conn.clone());
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        let (from, to) = match dir {
            Direction::ClientToServer => (conn.client.try_clone()?, conn.server.try_clone()?),
            Direction::ServerToClient => (conn.server.try_clone()?, conn.client.try_clone()?),
        };
        let (shared, this) = (shared.clone(), conn.clone());
        let name = format!("proxy-conn-{}", conn.id);
        let t = std::thread::Builder::new().name(name).spawn(move || {
            pump(&shared, &this, dir, from, to);
            if this.pumps.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.close();
                shared.lock().conns.retain(|c| c.id != this.id);
                shared.changed.notify_all();
            }
        });
        match t {
            Ok(t) => state.threads.push(t),
            Err(e) => {
                conn.close();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Forward `from` to `to` until EOF, an error, or the connection is closed. EOF is passed on
/// as a half close; an error closes the whole connection.
fn pump(shared: &Shared, conn: &Conn, dir: Direction, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                conn.close();
                return;
            }
        };
        if !hold(shared, conn) {
            return;
        }
        let mut n = n;
        let mut cut_after = false;
        if dir == Direction::ServerToClient {
            let mut budget = conn.budget.lock().unwrap();
            if let Some(left) = budget.as_mut() {
                n = n.min(*left);
                *left -= n;
                cut_after = *left == 0;
            }
        }
        // Counted before the write, so a peer that has read the bytes sees them counted.
        let counter = match dir {
            Direction::ClientToServer => &shared.up,
            Direction::ServerToClient => &shared.down,
        };
        counter.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            conn.close();
            return;
        }
        if cut_after {
            // Let the bytes leave before the close (shutdown sends FIN after queued data).
            let _ = to.flush();
            conn.close();
            shared.changed.notify_all();
            return;
        }
    }
}

/// Wait out the delay and any freeze before forwarding a chunk; false if the connection was
/// closed or the proxy dropped meanwhile.
fn hold(shared: &Shared, conn: &Conn) -> bool {
    let gone = || conn.closed.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst);
    let mut state = shared.lock();
    let until = Instant::now() + state.delay;
    loop {
        if gone() {
            return false;
        }
        let now = Instant::now();
        if state.frozen {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        } else if now < until {
            state = shared
                .changed
                .wait_timeout(state, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        } else {
            return true;
        }
    }
}

/// A listener that never accepts: the kernel completes TCP handshakes into its backlog, so a
/// client's connect succeeds but nothing ever answers (the client must hit its own deadline).
/// Keep the listener alive for as long as the address should behave so.
pub fn black_hole() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("black hole: bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("black hole: local address");
    (listener, addr)
}
