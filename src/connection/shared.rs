//! The state one connection's threads and handles share, and the operations on it.
//!
//! Locks, each held only for in-memory work (never across a socket call):
//! - `write`: the outgoing buffer, the queue of flush waiters (kept in the same lock so a PING
//!   and its waiter are queued together), and whether the connection can still send.
//! - `subs`: the subscription table.
//! - `mux`: the request inbox and its waiters.
//!
//! No code path holds two of them at once, except `subs` → `write` in `subscribe`, which no
//! path takes in the other order.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::headers::Headers;
use crate::message::Message;
use crate::options::Options;
use crate::proto::{encode, scan, ServerInfo};
use crate::subject;
use crate::transport::WriteHalf;

/// Write buffers keep their capacity while the connection is busy (growing them again for
/// every batch costs page faults); when the writer goes idle, anything bigger than this goes
/// back to the allocator.
pub(crate) const IDLE_CAPACITY: usize = 64 * 1024;

/// The lifecycle of a connection.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting for the first time.
    Connecting,
    /// Connected and usable.
    Connected,
    /// The connection was lost and the supervisor is trying the server pool; publishes are
    /// buffered, subscriptions kept.
    Reconnecting,
    /// [`Connection::drain`](crate::Connection::drain) is under way.
    Draining,
    /// Closed for good.
    Closed,
}

/// Counters of a connection, from [`Connection::stats`](crate::Connection::stats).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received (MSG and HMSG).
    pub in_msgs: u64,
    /// Payload bytes received.
    pub in_bytes: u64,
    /// Messages published.
    pub out_msgs: u64,
    /// Payload bytes published.
    pub out_bytes: u64,
    /// Events dropped because nobody was reading [`Connection::events`](crate::Connection::events).
    pub events_dropped: u64,
}

/// What travels from the reader thread to a subscription.
pub(crate) enum Delivery {
    Msg(Message),
    /// The server ended the subscription (a permissions violation).
    Err(Error),
}

/// Counters a subscription shares with the reader thread. What is pending is what was queued
/// minus what was taken; the reader writes only plain stores here (it is the one writer of the
/// queued side), the subscription only adds to the taken side.
#[derive(Default)]
pub(crate) struct SubCounters {
    /// Payload bytes queued so far (stored by the reader thread).
    pub(crate) queued_bytes: AtomicU64,
    /// Messages and payload bytes handed out by the subscription.
    pub(crate) taken_msgs: AtomicU64,
    pub(crate) taken_bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) slow: AtomicBool,
}

pub(crate) struct SubEntry {
    pub(crate) subject: String,
    pub(crate) queue: Option<String>,
    pub(crate) tx: Sender<Delivery>,
    pub(crate) counters: Arc<SubCounters>,
    /// Auto-unsubscribe after this many deliveries in total.
    pub(crate) max: Option<u64>,
    /// Messages and payload bytes queued to the subscription so far.
    pub(crate) delivered: u64,
    pub(crate) queued_bytes: u64,
    /// Messages the server sent for this sid, dropped ones included: what its count for
    /// an auto-unsubscribe is made of.
    pub(crate) received: u64,
}

/// Subscriptions by sid. Sids are small integers we hand out ourselves, so a multiplicative
/// hash is enough (SipHash showed up in profiles of the receive path).
pub(crate) type SubTable = HashMap<u64, SubEntry, BuildHasherDefault<SidHasher>>;

#[derive(Default)]
pub(crate) struct SidHasher(u64);

impl Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A request waiting for replies on the shared inbox.
pub(crate) struct Waiter {
    /// The subject the request went to, to route a publish permission error to it.
    pub(crate) subject: String,
    pub(crate) tx: Sender<Result<Message>>,
    /// More than one reply expected (`request_many`): the waiter stays after a reply.
    pub(crate) many: bool,
}

pub(crate) struct Mux {
    /// `<inbox prefix>.<nuid>.`
    pub(crate) prefix: String,
    /// The sid of the `<prefix>*` subscription, 0 until the first request.
    pub(crate) sid: u64,
    pub(crate) next_token: u64,
    pub(crate) waiters: HashMap<String, Waiter>,
}

pub(crate) struct WriteState {
    /// Bytes for the server. While `down`, only publishes, bounded by the reconnect buffer.
    pub(crate) buf: Vec<u8>,
    /// No transport: publishes are buffered, subscriptions wait for the reconnect.
    pub(crate) down: bool,
    /// What the last writer took but could not hand to the socket, from an operation boundary.
    pub(crate) unsent: Vec<u8>,
    /// The writer is parked on `write_cv` and must be woken for new bytes.
    pub(crate) writer_idle: bool,
    /// The transport has bytes of its own to send (a WebSocket pong, TLS records).
    pub(crate) kicked: bool,
    /// The writer should send what is buffered and stop.
    pub(crate) closing: bool,
    /// Set once the connection cannot send any more; every send returns it.
    pub(crate) error: Option<Error>,
    /// Publishers blocked on a full buffer.
    pub(crate) space_waiters: usize,
    /// One entry per PING in flight, in order: `Some` for a flush waiting on it.
    pub(crate) pongs: VecDeque<Option<Sender<Result<()>>>>,
    pub(crate) out_msgs: u64,
    pub(crate) out_bytes: u64,
}

/// Messages sent from the handles and the I/O threads to the supervisor.
pub(crate) enum Ctl {
    /// The reader or writer of transport generation `gen` hit an error: that transport is broken.
    Failed { gen: u64, err: Error },
    /// The user closes the connection; the writer may send what is queued until then.
    Close(std::time::Instant),
    /// The user asks to move to the next server of the pool.
    ForceReconnect,
    /// The server of generation `gen` sent an INFO (cluster changes, lame duck mode).
    Info { gen: u64 },
}

/// The writing half of the live transport, with its generation.
pub(crate) struct Out {
    pub(crate) half: Box<dyn WriteHalf>,
    pub(crate) gen: u64,
}

pub(crate) struct Shared {
    pub(crate) opts: Options,
    /// The transport's writing half. Whoever holds this lock writes, and takes the bytes from
    /// `write` only while holding it, so bytes leave in order: the writer thread, or a
    /// request or reply written directly while the writer is parked.
    pub(crate) out: Mutex<Option<Out>>,
    pub(crate) info: RwLock<Arc<ServerInfo>>,
    pub(crate) url: RwLock<Option<String>>,
    pub(crate) max_payload: AtomicUsize,
    pub(crate) write: Mutex<WriteState>,
    pub(crate) write_cv: Condvar,
    pub(crate) space_cv: Condvar,
    pub(crate) subs: Mutex<SubTable>,
    pub(crate) mux: Mutex<Mux>,
    pub(crate) mux_sid: AtomicU64,
    pub(crate) next_sid: AtomicU64,
    pub(crate) pings_out: AtomicU32,
    pub(crate) in_msgs: AtomicU64,
    pub(crate) in_bytes: AtomicU64,
    pub(crate) events: EventSink,
    pub(crate) state: Mutex<State>,
    pub(crate) state_cv: Condvar,
    pub(crate) close_reason: Mutex<Option<Error>>,
    pub(crate) ctl: Sender<Ctl>,
}

impl Shared {
    pub(crate) fn new(opts: Options, ctl: Sender<Ctl>) -> Shared {
        let prefix = format!("{}.{}.", opts.inbox_prefix, nuid::next());
        Shared {
            out: Mutex::new(None),
            info: RwLock::new(Arc::new(ServerInfo::default())),
            url: RwLock::new(None),
            max_payload: AtomicUsize::new(1024 * 1024),
            write: Mutex::new(WriteState {
                buf: Vec::with_capacity(64 * 1024),
                down: true,
                unsent: Vec::new(),
                writer_idle: false,
                kicked: false,
                closing: false,
                error: None,
                space_waiters: 0,
                pongs: VecDeque::new(),
                out_msgs: 0,
                out_bytes: 0,
            }),
            write_cv: Condvar::new(),
            space_cv: Condvar::new(),
            subs: Mutex::new(SubTable::default()),
            mux: Mutex::new(Mux {
                prefix,
                sid: 0,
                next_token: 0,
                waiters: HashMap::new(),
            }),
            mux_sid: AtomicU64::new(0),
            next_sid: AtomicU64::new(1),
            pings_out: AtomicU32::new(0),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            events: EventSink::new(),
            state: Mutex::new(State::Connecting),
            state_cv: Condvar::new(),
            close_reason: Mutex::new(None),
            ctl,
            opts,
        }
    }

    pub(crate) fn state(&self) -> State {
        *self.state.lock()
    }

    pub(crate) fn set_state(&self, s: State) {
        *self.state.lock() = s;
        self.state_cv.notify_all();
    }

    /// Wakes the writer if it is parked. Call with the write lock held.
    #[inline]
    fn wake(&self, w: &mut WriteState) {
        if w.writer_idle {
            w.writer_idle = false;
            self.write_cv.notify_one();
        }
    }

    /// The transport queued bytes of its own (called from the reader thread).
    pub(crate) fn kick_writer(&self) {
        let mut w = self.write.lock();
        w.kicked = true;
        self.wake(&mut w);
    }

    /// Queues raw protocol bytes (SUB, UNSUB, PONG). While disconnected nothing is queued:
    /// the subscription table is replayed on reconnect.
    pub(crate) fn send_raw(&self, f: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut w = self.write.lock();
        if let Some(e) = &w.error {
            return Err(e.clone());
        }
        if w.down {
            return Ok(());
        }
        let start = w.buf.len();
        f(&mut w.buf);
        if log::log_enabled!(log::Level::Trace) {
            log::trace!(
                "->> {}",
                String::from_utf8_lossy(&w.buf[start..]).trim_end()
            );
        }
        self.wake(&mut w);
        Ok(())
    }

    /// Publishes one message. Checks everything before anything is queued; blocks only when
    /// the write buffer is full (back-pressure), at most `flush_timeout`.
    pub(crate) fn publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
    ) -> Result<()> {
        self.publish_inner(subject, reply, headers, payload, false)
    }

    /// Like [`publish`](Shared::publish), for a request or a reply, where latency matters:
    /// when the writer thread is parked, the calling thread writes to the socket itself
    /// instead of waking it (one thread hop less per message).
    pub(crate) fn publish_urgent(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
    ) -> Result<()> {
        self.publish_inner(subject, reply, headers, payload, true)
    }

    fn publish_inner(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
        urgent: bool,
    ) -> Result<()> {
        subject::validate_publish(subject)?;
        if let Some(r) = reply {
            subject::validate_reply(r)?;
        }
        let hlen = match headers {
            Some(h) => {
                h.validate()?;
                h.encoded_len()
            }
            None => 0,
        };
        let max = self.max_payload.load(Ordering::Relaxed);
        if hlen + payload.len() > max {
            return Err(Error::new(
                ErrorKind::MaxPayload,
                format!(
                    "{} bytes of headers and payload, the server allows {max}",
                    hlen + payload.len()
                ),
            ));
        }
        let mut w = self.write.lock();
        loop {
            if let Some(e) = &w.error {
                return Err(e.clone());
            }
            if w.closing {
                return Err(Error::new(ErrorKind::Closed, "the connection is closing"));
            }
            if w.down {
                let limit = self.opts.reconnect_buffer;
                if limit == 0 {
                    return Err(Error::new(
                        ErrorKind::Disconnected,
                        "not connected, and the reconnect buffer is off",
                    ));
                }
                let need = subject.len() + reply.map_or(0, str::len) + hlen + payload.len() + 40;
                if w.buf.len() + need > limit {
                    return Err(Error::new(
                        ErrorKind::BufferFull,
                        format!("not connected, and the reconnect buffer ({limit} bytes) is full"),
                    ));
                }
                break;
            }
            if w.buf.len() < self.opts.write_buffer {
                break;
            }
            w.space_waiters += 1;
            let timed_out = self
                .space_cv
                .wait_for(&mut w, self.opts.flush_timeout)
                .timed_out();
            w.space_waiters -= 1;
            if timed_out && w.error.is_none() && w.buf.len() >= self.opts.write_buffer {
                return Err(Error::new(
                    ErrorKind::BufferFull,
                    format!(
                        "the writer could not send for {:?}",
                        self.opts.flush_timeout
                    ),
                ));
            }
        }
        let start = w.buf.len();
        encode::publish(&mut w.buf, subject, reply, headers, payload);
        if log::log_enabled!(log::Level::Trace) {
            let line_end = w.buf[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| start + p)
                .unwrap_or(w.buf.len());
            log::trace!(
                "->> {}",
                String::from_utf8_lossy(&w.buf[start..line_end]).trim_end()
            );
        }
        w.out_msgs += 1;
        w.out_bytes += payload.len() as u64;
        if urgent && w.writer_idle && !w.down {
            if let Some(mut out) = self.out.try_lock() {
                if let Some(o) = out.as_mut() {
                    let mut local = std::mem::take(&mut w.buf);
                    w.kicked = false;
                    drop(w);
                    if self.write_out(o, &mut local) {
                        // Give the buffer's capacity back for the next messages.
                        local.clear();
                        let mut w = self.write.lock();
                        if w.buf.is_empty() && local.capacity() <= IDLE_CAPACITY {
                            w.buf = local;
                        }
                    }
                    return Ok(());
                }
            }
        }
        self.wake(&mut w);
        Ok(())
    }

    /// Writes `bytes` to the transport. On failure keeps what never left (from the start of
    /// the operation it was cut in) for the next connection, reports the failure to the
    /// supervisor, and returns `false`.
    pub(crate) fn write_out(&self, o: &mut Out, bytes: &mut Vec<u8>) -> bool {
        let mut sent = 0;
        match o.half.write_tracked(bytes, &mut sent) {
            Ok(()) => true,
            Err(e) => {
                bytes.drain(..scan::op_start(bytes, sent));
                self.write.lock().unsent.extend_from_slice(bytes);
                let _ = self.ctl.send(Ctl::Failed {
                    gen: o.gen,
                    err: Error::io("writing to the server", e),
                });
                false
            }
        }
    }

    /// Queues a PING with an optional waiter for its PONG.
    fn ping(&self, waiter: Option<Sender<Result<()>>>) -> Result<()> {
        let mut w = self.write.lock();
        if let Some(e) = &w.error {
            return Err(e.clone());
        }
        if w.down {
            return Err(Error::new(ErrorKind::Disconnected, "not connected"));
        }
        w.pongs.push_back(waiter);
        w.buf.extend_from_slice(encode::PING);
        log::trace!("->> PING");
        self.wake(&mut w);
        Ok(())
    }

    /// A keepalive PING from the supervisor.
    pub(crate) fn keepalive_ping(&self) {
        let _ = self.ping(None);
    }

    /// A PING/PONG round trip: when it returns, the server has processed everything sent
    /// before it, and everything it sent before its PONG has been dispatched.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.ping(Some(tx))?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no PONG within {timeout:?}"),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone_error()),
        }
    }

    /// The PONG for the oldest PING in flight arrived (reader thread).
    pub(crate) fn pong(&self) {
        self.pings_out.store(0, Ordering::Relaxed);
        let waiter = self.write.lock().pongs.pop_front();
        if let Some(Some(tx)) = waiter {
            let _ = tx.try_send(Ok(()));
        }
    }

    /// The error for a caller whose connection went away under it.
    pub(crate) fn gone_error(&self) -> Error {
        if let Some(e) = &self.write.lock().error {
            return e.clone();
        }
        Error::new(ErrorKind::Disconnected, "the connection was lost")
    }

    pub(crate) fn next_sid(&self) -> u64 {
        self.next_sid.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a subscription and sends SUB.
    pub(crate) fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<(u64, Receiver<Delivery>, Arc<SubCounters>)> {
        subject::validate_subscribe(subject)?;
        if let Some(q) = queue {
            subject::validate_queue(q)?;
        }
        if self.state() == State::Draining {
            return Err(Error::new(
                ErrorKind::Draining,
                "the connection is draining: no new subscriptions",
            ));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(SubCounters::default());
        let sid = self.next_sid();
        self.subs.lock().insert(
            sid,
            SubEntry {
                subject: subject.to_string(),
                queue: queue.map(str::to_string),
                tx,
                counters: counters.clone(),
                max: None,
                delivered: 0,
                queued_bytes: 0,
                received: 0,
            },
        );
        if let Err(e) = self.send_raw(|b| encode::sub(b, subject, queue, sid)) {
            self.subs.lock().remove(&sid);
            return Err(e);
        }
        Ok((sid, rx, counters))
    }

    /// Sends UNSUB. With `max`, the subscription ends after `max` deliveries in total;
    /// without, it ends now.
    pub(crate) fn unsubscribe(&self, sid: u64, max: Option<u64>) -> Result<()> {
        {
            let mut subs = self.subs.lock();
            match max {
                None => {
                    subs.remove(&sid);
                }
                Some(n) => {
                    if let Some(e) = subs.get_mut(&sid) {
                        if e.received >= n {
                            subs.remove(&sid);
                        } else {
                            e.max = Some(n);
                        }
                    }
                }
            }
        }
        self.send_raw(|b| encode::unsub(b, sid, max))
    }

    /// Ends a subscription's stream without UNSUB (after a drain, or on close).
    pub(crate) fn forget_sub(&self, sid: u64) {
        self.subs.lock().remove(&sid);
    }

    /// Registers a request waiter on the shared inbox, creating the inbox subscription on
    /// first use. Returns the reply subject.
    pub(crate) fn register_waiter(
        &self,
        subject: &str,
        many: bool,
    ) -> Result<(String, Receiver<Result<Message>>)> {
        let (tx, rx) = if many {
            crossbeam_channel::unbounded()
        } else {
            crossbeam_channel::bounded(1)
        };
        let mut mux = self.mux.lock();
        if mux.sid == 0 {
            let sid = self.next_sid();
            let wildcard = format!("{}*", mux.prefix);
            self.send_raw(|b| encode::sub(b, &wildcard, None, sid))?;
            mux.sid = sid;
            self.mux_sid.store(sid, Ordering::Release);
        }
        mux.next_token += 1;
        let token = mux.next_token.to_string();
        let reply = format!("{}{}", mux.prefix, token);
        mux.waiters.insert(
            token,
            Waiter {
                subject: subject.to_string(),
                tx,
                many,
            },
        );
        Ok((reply, rx))
    }

    pub(crate) fn remove_waiter(&self, reply: &str) {
        let mut mux = self.mux.lock();
        if let Some(token) = reply.strip_prefix(mux.prefix.as_str()).map(str::to_string) {
            mux.waiters.remove(&token);
        }
    }

    /// Sends a request and waits for one reply.
    pub(crate) fn request(
        &self,
        subject: &str,
        headers: Option<&Headers>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message> {
        let (reply, rx) = self.register_waiter(subject, false)?;
        if let Err(e) = self.publish_urgent(subject, Some(&reply), headers, payload) {
            self.remove_waiter(&reply);
            return Err(e);
        }
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                self.remove_waiter(&reply);
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no reply on '{subject}' within {timeout:?}"),
                ))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.gone_error()),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let w = self.write.lock();
        Stats {
            in_msgs: self.in_msgs.load(Ordering::Relaxed),
            in_bytes: self.in_bytes.load(Ordering::Relaxed),
            out_msgs: w.out_msgs,
            out_bytes: w.out_bytes,
            events_dropped: self.events.dropped(),
        }
    }

    pub(crate) fn emit(&self, e: Event) {
        self.events.emit(e)
    }
}
