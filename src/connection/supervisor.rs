//! The supervisor thread owns a connection's life: it starts a reader and a writer thread for
//! each transport, sends the keepalive PINGs, and when a transport breaks (or goes stale, or
//! the user forces it, or the server goes into lame duck mode) it tears the transport down and
//! reconnects through the server pool. The reader and writer never reconnect on their own.
//!
//! While there is no transport the connection is "down": publishes are kept in the reconnect
//! buffer, subscriptions stay in the table, flushes fail at once. On reconnect, in this order:
//! the handshake, one SUB per live subscription (with the remaining count of an
//! auto-unsubscribe), the request inbox, then the buffered publishes.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rand::Rng;

use crate::callback::contain;
use crate::connection::handshake;
use crate::connection::lifecycle::Transition;
use crate::connection::pool::{Pool, Removed};
use crate::connection::reader;
use crate::connection::shared::{Ctl, Out, Shared};
use crate::connection::writer;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::time::deadline_after;
use crate::transport::{Kick, TlsSetup};
use crate::url::ServerUrl;

/// The threads and socket of one live transport.
pub(crate) struct Io {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    /// Disconnects when the writer thread ends (its sender is dropped).
    writer_done: Receiver<()>,
    socket: TcpStream,
    url: ServerUrl,
    /// Which transport this is; messages from older ones are ignored.
    gen: u64,
}

impl Io {
    /// Another handle on the socket, to shut it down from outside.
    pub(crate) fn socket_handle(&self) -> Option<TcpStream> {
        self.socket.try_clone().ok()
    }
}

pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    ctl: Receiver<Ctl>,
    pool: Pool,
    tls: TlsSetup,
    gen: u64,
    jitter: Duration,
}

/// Why reconnecting stopped.
enum Stop {
    /// The user closed the connection.
    Closed,
    /// No server is left in the pool.
    Exhausted(Error),
}

/// How a transport was lost.
struct Lost {
    err: Error,
    /// The user asked for it (`force_reconnect`).
    requested: bool,
    /// The server ended the stream in an orderly way, or we left it on purpose.
    clean: bool,
}

impl Lost {
    fn failed(err: Error) -> Outcome {
        Outcome::Lost(Lost {
            err,
            requested: false,
            clean: false,
        })
    }
}

/// How a connected period ended.
enum Outcome {
    Close(Instant),
    Lost(Lost),
}

impl Supervisor {
    pub(crate) fn new(shared: Arc<Shared>, ctl: Receiver<Ctl>, pool: Pool, tls: TlsSetup) -> Self {
        let opts = &shared.opts;
        let tls_in_pool =
            opts.require_tls || opts.tls_first || pool.urls().any(|u| u.scheme.is_tls());
        let jitter = if tls_in_pool {
            opts.jitter_tls
        } else {
            opts.jitter
        };
        Supervisor {
            shared,
            ctl,
            pool,
            tls,
            gen: 0,
            jitter,
        }
    }

    /// One pass over the pool on the caller's thread, for `connect()`: the first server that
    /// answers, or the last error.
    pub(crate) fn first_pass(&mut self) -> Result<Io> {
        let mut last = None;
        for _ in 0..self.pool.len() {
            let Some(url) = self.pool.next() else { break };
            match self.attempt(&url) {
                Ok(io) => {
                    // Connected when `connect()` returns, not once the supervisor thread runs.
                    self.shared.transition(Transition::Up);
                    return Ok(io);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::InvalidOption, "no server URL")))
    }

    /// Runs the connection until it is closed; `first` is the transport `connect()` opened, or
    /// `None` to start by connecting (`retry_on_initial_connect`).
    pub(crate) fn run(self, first: Option<Io>) {
        let shared = self.shared.clone();
        // A bug here must not leave `close()` and `closed()` waiting: whatever unwinds this
        // thread, the connection ends as closed.
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || self.serve_all(first)));
        if let Err(p) = r {
            let text = crate::callback::panic_text(&*p);
            log::error!("the supervisor thread panicked: {text}");
            if let Some(s) = shared.socket.lock().take() {
                let _ = s.shutdown(Shutdown::Both);
            }
            shared.finish(Some(Error::new(
                ErrorKind::Closed,
                format!("the supervisor thread panicked: {text}"),
            )));
        }
    }

    fn serve_all(mut self, first: Option<Io>) {
        let mut io = first;
        let mut ever_connected = io.is_some();
        let reason = loop {
            let cur = match io.take() {
                Some(cur) => cur,
                None => match self.reconnect(ever_connected) {
                    Ok(cur) => {
                        ever_connected = true;
                        cur
                    }
                    Err(Stop::Closed) => break None,
                    Err(Stop::Exhausted(e)) => break Some(e),
                },
            };
            match self.serve(&cur) {
                Outcome::Close(deadline) => {
                    close_gracefully(&self.shared, cur, deadline);
                    break None;
                }
                Outcome::Lost(lost) => {
                    let e = lost.err;
                    log::warn!("disconnected from {}: {e:#}", cur.url);
                    // Down first, then the event: whoever reacts to it finds publishes
                    // buffered (bounded), flushes failing and the state Reconnecting, and
                    // whoever waits for replies sent on this transport told (no more come).
                    go_down(&self.shared, cur);
                    self.shared.transport_ended(&e);
                    let will_reconnect = self.shared.opts.allow_reconnect;
                    if will_reconnect {
                        self.shared.transition(Transition::Lost);
                    }
                    self.shared.emit(Event::Disconnected {
                        websocket_close: e.websocket_close().map(|(c, r)| (c, r.to_string())),
                        reason: e.clone(),
                        will_reconnect,
                        requested: lost.requested,
                        clean: lost.clean,
                    });
                    if !will_reconnect {
                        break Some(e);
                    }
                }
            }
        };
        self.shared.finish(reason);
    }

    /// Opens a transport to `url` and starts its reader and writer.
    fn attempt(&mut self, url: &ServerUrl) -> Result<Io> {
        self.gen += 1;
        let io = connect(&self.shared, url, &self.tls, self.gen);
        match &io {
            Ok(_) => {
                self.pool.connected(url);
                self.take_info(url);
            }
            Err(e) => {
                log::debug!("connecting to {url} failed: {e:#}");
                let max = self.shared.opts.max_reconnects;
                match self.pool.failed(url, e, max) {
                    Removed::No => {}
                    Removed::AttemptsExhausted => {
                        log::warn!("giving up on {url} after {max:?} failed attempts")
                    }
                    Removed::SameAuthErrorTwice => {
                        log::warn!("giving up on {url}: the same authorization error twice")
                    }
                }
            }
        }
        io
    }

    /// Tries the pool until a server answers: each server once per pass, a backoff wait
    /// between passes, never a wait before the first attempt.
    fn reconnect(&mut self, ever_connected: bool) -> std::result::Result<Io, Stop> {
        self.shared.transition(Transition::Lost);
        let mut pass = 0u32;
        let mut tried = 0usize;
        let mut last: Option<Error> = None;
        loop {
            while let Ok(msg) = self.ctl.try_recv() {
                if let Ctl::Close(_) = msg {
                    return Err(Stop::Closed);
                }
            }
            if self.pool.len() == 0 {
                let e =
                    last.unwrap_or_else(|| Error::new(ErrorKind::Io, "no server to connect to"));
                return Err(Stop::Exhausted(e));
            }
            if tried >= self.pool.len() {
                pass += 1;
                tried = 0;
                let backoff = &self.shared.opts.backoff;
                // A reconnect delay function that panics waits as the default would.
                let mut wait = contain("reconnect delay", || Ok(backoff.delay(pass)))
                    .unwrap_or_else(|_| crate::Backoff::default().delay(pass));
                if backoff.jittered() && !self.jitter.is_zero() {
                    wait += rand::rng().random_range(Duration::ZERO..self.jitter);
                }
                self.sleep(wait)?;
            }
            let Some(url) = self.pool.next() else {
                continue;
            };
            tried += 1;
            match self.attempt(&url) {
                Ok(io) => {
                    // Connected before the event: whoever reacts to it finds the state so.
                    self.shared.transition(Transition::Up);
                    let event = if ever_connected {
                        log::info!("reconnected to {url}");
                        Event::Reconnected {
                            url: url.to_string(),
                        }
                    } else {
                        Event::Connected {
                            url: url.to_string(),
                        }
                    };
                    self.shared.emit(event);
                    return Ok(io);
                }
                Err(e) => last = Some(e),
            }
        }
    }

    /// Waits `d`, unless the user closes the connection meanwhile.
    fn sleep(&self, d: Duration) -> std::result::Result<(), Stop> {
        let until = deadline_after(d);
        loop {
            match self.ctl.recv_deadline(until) {
                Ok(Ctl::Close(_)) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Stop::Closed)
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Ok(()),
            }
        }
    }

    /// While connected: keepalive, INFO updates, lame duck migration, until the transport is
    /// lost or the user closes.
    fn serve(&mut self, cur: &Io) -> Outcome {
        // A zero interval means no keepalive pings (rather than pinging in a loop).
        let interval = match self.shared.opts.ping_interval {
            d if d.is_zero() => Duration::MAX,
            d => d,
        };
        let mut next_ping = deadline_after(interval);
        let mut leave_at: Option<Instant> = None;
        let mut lame_duck_seen = false;
        loop {
            let deadline = leave_at.map_or(next_ping, |l| l.min(next_ping));
            match self.ctl.recv_deadline(deadline) {
                Ok(Ctl::Failed { gen, err, clean }) if gen == cur.gen => {
                    return Outcome::Lost(Lost {
                        err,
                        requested: false,
                        clean,
                    })
                }
                Ok(Ctl::Close(deadline)) => return Outcome::Close(deadline),
                Ok(Ctl::ForceReconnect) => {
                    return Outcome::Lost(Lost {
                        err: Error::new(ErrorKind::Disconnected, "reconnect forced by the user"),
                        requested: true,
                        clean: true,
                    })
                }
                Ok(Ctl::Info { gen }) if gen == cur.gen => {
                    if self.take_info(&cur.url) && !lame_duck_seen {
                        lame_duck_seen = true;
                        leave_at = self.lame_duck(&cur.url);
                    }
                }
                Ok(_) => {} // from an older transport
                Err(RecvTimeoutError::Disconnected) => return Outcome::Close(Instant::now()),
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if leave_at.is_some_and(|t| now >= t) {
                        return Outcome::Lost(Lost {
                            err: Error::new(
                                ErrorKind::Disconnected,
                                format!("left {} before its lame duck eviction", cur.url),
                            ),
                            requested: false,
                            clean: true,
                        });
                    }
                    if now >= next_ping {
                        next_ping = deadline_after(interval);
                        let out = self.shared.pings_out.fetch_add(1, Ordering::Relaxed) + 1;
                        if out > self.shared.opts.max_pings_out {
                            return Lost::failed(Error::new(
                                ErrorKind::StaleConnection,
                                format!(
                                    "the server answered none of the last {} pings",
                                    self.shared.opts.max_pings_out
                                ),
                            ));
                        }
                        self.shared.keepalive_ping();
                    }
                }
            }
        }
    }

    /// Takes the latest INFO into the pool; `true` when it announces lame duck mode.
    fn take_info(&mut self, current: &ServerUrl) -> bool {
        let info = self.shared.info.read().clone();
        if !self.shared.opts.ignore_discovered && !info.connect_urls.is_empty() {
            let (added, removed) = self.pool.update(&info.connect_urls, current);
            if !added.is_empty() || !removed.is_empty() {
                log::debug!("server pool: +{added:?} -{removed:?}");
                self.shared.emit(Event::ServersChanged { added, removed });
            }
        }
        info.ldm
    }

    /// The server announced lame duck mode: report it, and pick a moment to leave.
    fn lame_duck(&self, url: &ServerUrl) -> Option<Instant> {
        log::warn!("{url} is entering lame duck mode");
        self.shared.emit(Event::LameDuckMode {
            url: url.to_string(),
        });
        let opts = &self.shared.opts;
        let elsewhere = self
            .pool
            .urls()
            .any(|u| u.host_port() != url.host_port() || u.scheme != url.scheme);
        if !opts.lame_duck_migration || !opts.allow_reconnect || !elsewhere {
            return None;
        }
        let window = opts.lame_duck_window;
        let after = if window.is_zero() {
            Duration::ZERO
        } else {
            rand::rng().random_range(Duration::ZERO..window)
        };
        Some(deadline_after(after))
    }
}

/// Opens a transport to `url`: handshake, then the subscriptions and buffered publishes go
/// into the write buffer in order, then the reader and writer threads start.
fn connect(shared: &Arc<Shared>, url: &ServerUrl, tls: &TlsSetup, gen: u64) -> Result<Io> {
    let weak = Arc::downgrade(shared);
    let kick: Kick = Arc::new(move || {
        if let Some(s) = weak.upgrade() {
            s.outbound.kick();
        }
    });
    let est = handshake::establish(shared, url, tls, kick)?;
    let socket = est
        .conn
        .socket
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    let handshake::Established { conn, rest, .. } = est;
    *shared.out.lock() = Some(Out {
        half: conn.writer,
        gen,
    });
    *shared.socket.lock() = socket.try_clone().ok();
    go_up(shared);
    *shared.url.write() = Some(url.to_string());
    let spawn_err = |e: std::io::Error| Error::io("starting a connection thread", e);
    let (done_tx, writer_done) = crossbeam_channel::bounded::<()>(0);
    let s = shared.clone();
    let writer = std::thread::Builder::new()
        .name("natsws-writer".into())
        .spawn(move || {
            let _done = done_tx;
            writer::run(s, gen)
        });
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            abandon(shared, &socket);
            return Err(spawn_err(e));
        }
    };
    let s = shared.clone();
    let input = conn.reader;
    let reader = std::thread::Builder::new()
        .name("natsws-reader".into())
        .spawn(move || reader::run(s, input, rest, gen));
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            abandon(shared, &socket);
            let _ = writer.join();
            return Err(spawn_err(e));
        }
    };
    Ok(Io {
        reader,
        writer,
        writer_done,
        socket,
        url: url.clone(),
        gen,
    })
}

/// Undoes `go_up` when the threads of a new transport could not start: down again, with only
/// the publishes kept, and the transport dropped.
fn abandon(shared: &Shared, socket: &TcpStream) {
    shared.outbound.go_down();
    shared.outbound.keep_only_publishes();
    let _ = socket.shutdown(Shutdown::Both);
    *shared.out.lock() = None;
    *shared.socket.lock() = None;
    *shared.url.write() = None;
    // The writer may have sent something before the reader failed to start.
    shared.transport_ended(&Error::new(
        ErrorKind::Io,
        "a connection thread could not be started",
    ));
}

/// A new transport is up: replay the subscription table (and the request inbox) ahead of the
/// buffered publishes, and let sends through again. The table is held until the queue is up,
/// so a subscription made meanwhile is either replayed here or sent by `subscribe` itself.
fn go_up(shared: &Shared) {
    // A new generation before sends go through (see `Connection::transport_generation`).
    shared.generation.fetch_add(1, Ordering::AcqRel);
    let table = shared.table.lock();
    shared.outbound.go_up(table.replay());
    drop(table);
    shared.pings_out.store(0, Ordering::Relaxed);
}

/// The transport is gone: stop its threads and keep, of everything not sent, the publishes.
fn go_down(shared: &Shared, io: Io) {
    shared.outbound.go_down();
    let _ = io.socket.shutdown(Shutdown::Both);
    let _ = io.writer.join();
    let _ = io.reader.join();
    *shared.out.lock() = None;
    *shared.socket.lock() = None;
    shared.outbound.keep_only_publishes();
    *shared.url.write() = None;
}

/// Lets the writer send everything queued until `deadline`, then closes.
fn close_gracefully(shared: &Shared, io: Io, deadline: Instant) {
    shared.outbound.close();
    // The writer exits after its last write; past the deadline the socket is shut under it.
    let _ = io.writer_done.recv_deadline(deadline);
    let lost = shared
        .outbound
        .fail(Error::new(ErrorKind::Closed, "the connection was closed"));
    if lost > 0 {
        log::warn!("closing with {lost} bytes of publishes that could not be sent");
    }
    let _ = io.socket.shutdown(Shutdown::Both);
    let _ = io.writer.join();
    let _ = io.reader.join();
    *shared.out.lock() = None;
    *shared.socket.lock() = None;
}
