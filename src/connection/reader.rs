//! The reader thread: reads from the transport into one buffer, parses operations in place and
//! dispatches them. It never blocks on anything but the socket: subscriptions have unbounded
//! queues guarded by pending limits, flush waiters have one-slot channels, events are
//! fire-and-forget.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::connection::server_error::{self, Severity};
use crate::connection::shared::{Ctl, Delivery, Shared, SubEntry};
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::headers::Headers;
use crate::message::Message;
use crate::proto::{self, encode, Parsed, ServerInfo, ServerOp};
use crate::transport::ReadHalf;

/// A growable read buffer: `data()` is what has been read and not yet parsed.
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

const INITIAL: usize = 64 * 1024;

impl ReadBuf {
    pub(crate) fn new(prefix: Vec<u8>) -> ReadBuf {
        let end = prefix.len();
        let mut buf = prefix;
        buf.resize(end.max(INITIAL), 0);
        ReadBuf { buf, start: 0, end }
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `r`, after making room for an operation of `need` bytes in total.
    /// Returns the number of bytes read (0 at end of stream).
    pub(crate) fn fill(&mut self, r: &mut dyn ReadHalf, need: usize) -> io::Result<usize> {
        let len = self.end - self.start;
        let want = need.max(len + 1);
        if self.start + want > self.buf.len() || self.buf.len() - self.end < 4096 {
            // Move the partial operation to the front, and grow if it still does not fit.
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = len;
            if want > self.buf.len() || self.buf.len() - self.end < 4096 {
                let new_len = want.max(self.buf.len() * 2).max(INITIAL);
                self.buf.resize(new_len, 0);
            }
        } else if len == 0 && self.buf.len() > 4 * INITIAL * 16 {
            // A big operation went through; don't keep its buffer forever.
            self.buf = vec![0; INITIAL];
            self.start = 0;
            self.end = 0;
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

/// Parse limits for messages from this server: its max_payload (at least 1 MiB) plus room for
/// headers the server adds.
pub(crate) fn limits(shared: &Shared) -> proto::Limits {
    // Whatever the server announces, a message is accepted up to 64 MiB (nats-server's own
    // ceiling for max_payload), so a hostile INFO cannot make us buffer without bound.
    let max = shared
        .max_payload
        .load(Ordering::Relaxed)
        .clamp(1024 * 1024, 64 * 1024 * 1024);
    proto::Limits {
        max_control_line: shared.opts.max_control_line,
        max_payload: max + 64 * 1024,
    }
}

pub(crate) fn run(shared: Arc<Shared>, mut input: Box<dyn ReadHalf>, mut rb: ReadBuf, gen: u64) {
    let err = match read_loop(&shared, &mut *input, &mut rb, gen) {
        Ok(()) => Error::new(ErrorKind::Disconnected, "the server closed the connection"),
        Err(e) => e,
    };
    let _ = shared.ctl.send(Ctl::Failed { gen, err });
}

/// Runs until the stream ends (`Ok`) or fails.
fn read_loop(
    shared: &Arc<Shared>,
    input: &mut dyn ReadHalf,
    rb: &mut ReadBuf,
    gen: u64,
) -> Result<()> {
    let mut limits = limits(shared);
    loop {
        let need = loop {
            match proto::parse(rb.data(), &limits)? {
                Parsed::Op(op, n) => {
                    if log::log_enabled!(log::Level::Trace) {
                        trace_in(&rb.data()[..n]);
                    }
                    if handle(shared, op)? {
                        limits = self::limits(shared);
                        let _ = shared.ctl.send(Ctl::Info { gen });
                    }
                    rb.consume(n);
                }
                Parsed::Incomplete { need } => break need,
            }
        };
        let n = rb
            .fill(input, need)
            .map_err(|e| Error::io("reading from the server", e))?;
        if n == 0 {
            return Ok(());
        }
    }
}

pub(crate) fn trace_in(op: &[u8]) {
    if !log::log_enabled!(log::Level::Trace) {
        return;
    }
    let line_end = op.iter().position(|&b| b == b'\n').unwrap_or(op.len());
    log::trace!(
        "<<- {}",
        String::from_utf8_lossy(&op[..line_end]).trim_end()
    );
}

/// Handles one operation; `Ok(true)` when the server's limits may have changed (INFO).
fn handle(shared: &Arc<Shared>, op: ServerOp<'_>) -> Result<bool> {
    match op {
        ServerOp::Msg {
            subject,
            sid,
            reply,
            payload,
        } => deliver(shared, sid, subject, reply, None, payload),
        ServerOp::HMsg {
            subject,
            sid,
            reply,
            headers,
            payload,
        } => match Headers::parse(headers) {
            Ok(h) => deliver(shared, sid, subject, reply, Some(h), payload),
            Err(e) => {
                // One bad header block spoils one message, not the connection.
                log::warn!("dropping a message on '{subject}' with unreadable headers: {e}");
                shared.emit(Event::ServerError { error: e });
            }
        },
        ServerOp::Ping => {
            shared.send_raw(|b| b.extend_from_slice(encode::PONG))?;
        }
        ServerOp::Pong => shared.pong(),
        ServerOp::Ok => {}
        ServerOp::Info(json) => {
            let info = ServerInfo::parse(json)?;
            update_info(shared, info);
            return Ok(true);
        }
        ServerOp::Err(text) => {
            let err = server_error::classify(text);
            match server_error::severity(text) {
                Severity::Fatal => return Err(err),
                Severity::Async => route_async_error(shared, text, err),
            }
        }
    }
    Ok(false)
}

pub(crate) fn update_info(shared: &Shared, info: ServerInfo) {
    if info.max_payload > 0 {
        shared
            .max_payload
            .store(info.max_payload, Ordering::Relaxed);
    }
    *shared.info.write() = Arc::new(info);
}

fn deliver(
    shared: &Arc<Shared>,
    sid: u64,
    subject: &str,
    reply: Option<&str>,
    headers: Option<Headers>,
    payload: &[u8],
) {
    shared.in_msgs.fetch_add(1, Ordering::Relaxed);
    shared
        .in_bytes
        .fetch_add(payload.len() as u64, Ordering::Relaxed);
    let msg = Message {
        subject: subject.to_string(),
        reply: reply.map(str::to_string),
        headers,
        payload: Bytes::copy_from_slice(payload),
        conn: reply.map(|_| shared.clone()),
    };
    if sid == shared.mux_sid.load(Ordering::Acquire) {
        deliver_reply(shared, msg);
        return;
    }
    let mut subs = shared.subs.lock();
    let Some(entry) = subs.get_mut(&sid) else {
        // A message that crossed our UNSUB: nobody wants it.
        return;
    };
    entry.received += 1;
    // The server ends an auto-unsubscribed sid after `max` messages, dropped ones included.
    let last = entry.max.is_some_and(|max| entry.received >= max);
    if last {
        if let Some(mut e) = subs.remove(&sid) {
            queue(shared, sid, &mut e, msg);
        }
        return;
    }
    queue(shared, sid, entry, msg);
}

/// Queues `msg` to the subscription, or drops and counts it past the pending limits.
fn queue(shared: &Shared, sid: u64, entry: &mut SubEntry, msg: Message) {
    let c = &entry.counters;
    let len = msg.payload.len();
    let (max_msgs, max_bytes) = (shared.opts.pending_msgs, shared.opts.pending_bytes);
    let pending_msgs = entry
        .delivered
        .saturating_sub(c.taken_msgs.load(Ordering::Relaxed)) as usize;
    let pending_bytes = entry
        .queued_bytes
        .saturating_sub(c.taken_bytes.load(Ordering::Relaxed)) as usize;
    if (max_msgs > 0 && pending_msgs >= max_msgs)
        || (max_bytes > 0 && pending_bytes + len > max_bytes)
    {
        let dropped = c.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if !c.slow.swap(true, Ordering::Relaxed) {
            log::warn!(
                "slow consumer on '{}' (sid {sid}): pending limits reached, dropping messages",
                entry.subject
            );
            shared.emit(Event::SlowConsumer {
                sid,
                subject: entry.subject.clone(),
                dropped,
            });
        }
        return;
    }
    if c.slow.load(Ordering::Relaxed) {
        c.slow.store(false, Ordering::Relaxed);
    }
    entry.delivered += 1;
    entry.queued_bytes += len as u64;
    c.queued_bytes.store(entry.queued_bytes, Ordering::Relaxed);
    let _ = entry.tx.send(Delivery::Msg(msg));
}

fn deliver_reply(shared: &Shared, msg: Message) {
    let mut mux = shared.mux.lock();
    let Some(token) = msg.subject.strip_prefix(mux.prefix.as_str()) else {
        return;
    };
    let no_responders = msg.is_no_responders();
    let Some(waiter) = mux.waiters.get(token) else {
        return;
    };
    if waiter.many && !no_responders {
        let _ = waiter.tx.send(Ok(msg));
        return;
    }
    let token = token.to_string();
    if let Some(waiter) = mux.waiters.remove(&token) {
        let reply = if no_responders {
            Err(Error::new(
                ErrorKind::NoResponders,
                format!("nobody is subscribed to '{}'", waiter.subject),
            ))
        } else {
            Ok(msg)
        };
        let _ = waiter.tx.send(reply);
    }
}

/// A -ERR that leaves the connection up: hand it to the subscription or request it concerns,
/// and report it as an event.
fn route_async_error(shared: &Shared, text: &str, err: Error) {
    log::warn!("server error: {text}");
    if let Some(target) = server_error::permission_target(text) {
        match target {
            server_error::Target::Subscription { subject, queue } => {
                let mut subs = shared.subs.lock();
                let hit: Vec<u64> = subs
                    .iter()
                    .filter(|(_, e)| e.subject == subject && e.queue.as_deref() == queue.as_deref())
                    .map(|(sid, _)| *sid)
                    .collect();
                for sid in hit {
                    if let Some(e) = subs.remove(&sid) {
                        let _ = e.tx.send(Delivery::Err(err.clone()));
                    }
                }
                drop(subs);
                let mut mux = shared.mux.lock();
                if queue.is_none() && subject == format!("{}*", mux.prefix) {
                    // Our request inbox was refused: fail every request waiting on it.
                    for (_, w) in mux.waiters.drain() {
                        let _ = w.tx.send(Err(err.clone()));
                    }
                    mux.sid = 0;
                    shared.mux_sid.store(0, Ordering::Release);
                }
            }
            server_error::Target::Publish { subject } => {
                let mut mux = shared.mux.lock();
                let hit: Vec<String> = mux
                    .waiters
                    .iter()
                    .filter(|(_, w)| w.subject == subject)
                    .map(|(t, _)| t.clone())
                    .collect();
                for t in hit {
                    if let Some(w) = mux.waiters.remove(&t) {
                        let _ = w.tx.send(Err(err.clone()));
                    }
                }
            }
        }
    }
    shared.emit(Event::ServerError { error: err });
}
