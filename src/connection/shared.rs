//! The state one connection's threads and handles share, and the operations on it.
//!
//! `Shared` is a composition of parts that each have one job, one lock and tests of their own:
//! the [`Outbound`] queue (bytes for the server, flush waiters), the [`Table`] of subscriptions
//! and requests, and the [`Lifecycle`] state. The order in which their locks may be taken is in
//! [`lock_order`](super::lock_order), and checked in debug builds.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::connection::hooks::DisconnectHooks;
use crate::connection::lifecycle::{Lifecycle, Refused, State, Transition};
use crate::connection::lock_order::{Ordered, Rank};
use crate::connection::outbound::{Batch, Outbound, Queued, Send};
use crate::connection::table::{Delivery, SubCounters, Table};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::headers::Headers;
use crate::message::Message;
use crate::options::Options;
use crate::proto::{encode, ServerInfo};
use crate::subject;
use crate::transport::WriteHalf;

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

/// Messages sent from the handles and the I/O threads to the supervisor.
pub(crate) enum Ctl {
    /// The reader or writer of transport generation `gen` hit an error: that transport is
    /// broken. `clean`: the server said goodbye (a WebSocket close frame).
    Failed { gen: u64, err: Error, clean: bool },
    /// The user closes the connection; the writer may send what is queued until then.
    Close(Instant),
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

/// How long `close()` waits past its deadline for the supervisor to finish before it closes
/// the connection itself (the supervisor joins the I/O threads after shutting the socket).
const CLOSE_GRACE: Duration = Duration::from_millis(250);

pub(crate) struct Shared {
    pub(crate) opts: Options,
    /// The transport's writing half. Whoever holds this lock writes, and takes the queue only
    /// while holding it, so bytes leave in order: the writer thread, or a caller writing a
    /// request or reply itself while the writer is parked.
    pub(crate) out: Ordered<Option<Out>>,
    /// The live socket, to shut it down from `close()` if the supervisor cannot.
    pub(crate) socket: Mutex<Option<TcpStream>>,
    pub(crate) outbound: Outbound,
    pub(crate) table: Ordered<Table>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) info: RwLock<Arc<ServerInfo>>,
    pub(crate) url: RwLock<Option<String>>,
    pub(crate) max_payload: AtomicUsize,
    pub(crate) next_sid: AtomicU64,
    pub(crate) pings_out: AtomicU32,
    pub(crate) in_msgs: AtomicU64,
    pub(crate) in_bytes: AtomicU64,
    /// Incremented every time a transport comes up: layers above (JetStream consumers) compare
    /// it to notice a reconnect without taking the user's events.
    pub(crate) generation: AtomicU64,
    /// Told when a transport ends and when the connection closes (see `hooks.rs`).
    pub(crate) disconnect_hooks: DisconnectHooks,
    pub(crate) events: EventSink,
    pub(crate) close_reason: Mutex<Option<Error>>,
    /// Set by whoever ends the connection first (the supervisor, or `close()` on its behalf).
    pub(crate) finished: AtomicBool,
    pub(crate) ctl: Sender<Ctl>,
}

impl Shared {
    pub(crate) fn new(opts: Options, ctl: Sender<Ctl>) -> Shared {
        Shared {
            out: Ordered::new(Rank::Out, None),
            socket: Mutex::new(None),
            outbound: Outbound::new(opts.write_buffer, opts.reconnect_buffer, opts.flush_timeout),
            table: Ordered::new(Rank::Table, Table::new(&opts.inbox_prefix)),
            lifecycle: Lifecycle::new(),
            info: RwLock::new(Arc::new(ServerInfo::default())),
            url: RwLock::new(None),
            max_payload: AtomicUsize::new(1024 * 1024),
            next_sid: AtomicU64::new(1),
            pings_out: AtomicU32::new(0),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            disconnect_hooks: DisconnectHooks::default(),
            events: EventSink::new(),
            close_reason: Mutex::new(None),
            finished: AtomicBool::new(false),
            ctl,
            opts,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.lifecycle.get()
    }

    /// Applies a lifecycle transition; a refused one changes nothing.
    pub(crate) fn transition(&self, t: Transition) -> State {
        self.lifecycle
            .apply(t)
            .unwrap_or_else(|_| self.lifecycle.get())
    }

    // ------------------------------------------------------------------ publishing

    /// Publishes one message. Checks everything before anything is queued; blocks only when
    /// the write buffer is full (back-pressure), at most `flush_timeout`.
    pub(crate) fn publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
    ) -> Result<()> {
        self.publish_inner(subject, reply, headers, payload, Send::Writer, None)
    }

    /// Like [`publish`](Shared::publish), for what is in no hurry (JetStream acks, pipelined
    /// JetStream publishes): see [`Send::Lazy`].
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    pub(crate) fn publish_lazy(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
    ) -> Result<()> {
        self.publish_inner(subject, reply, headers, payload, Send::Lazy, None)
    }

    /// Like [`publish`](Shared::publish), for a request or a reply, where latency matters:
    /// when the writer thread is parked, the calling thread writes to the socket itself
    /// instead of waking it (one thread hop less). That write never waits for a peer that
    /// stopped reading: what the socket does not take at once is left to the writer thread
    /// (see `transport::WriteHalf::set_write_deadline`), so the caller's own deadline holds.
    ///
    /// `deadline`: a request's own; a full write buffer is waited on no longer than that
    /// (instead of `flush_timeout`), and reported as [`ErrorKind::Timeout`].
    pub(crate) fn publish_urgent(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> Result<()> {
        let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.publish_inner(subject, reply, headers, payload, Send::Direct, wait)
            .map_err(|e| match (e.kind(), deadline) {
                (ErrorKind::BufferFull, Some(_)) => Error::new(
                    ErrorKind::Timeout,
                    "the write buffer stayed full until the request's deadline",
                )
                .with_source(e),
                _ => e,
            })
    }

    fn publish_inner(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&Headers>,
        payload: &[u8],
        mode: Send,
        wait: Option<Duration>,
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
        let need = subject.len() + reply.map_or(0, str::len) + hlen + payload.len() + 40;
        let queued = self
            .outbound
            .publish(need, payload.len(), mode, wait, |b| {
                encode::publish(b, subject, reply, headers, payload)
            })?;
        if queued == Queued::Direct {
            self.write_direct();
        }
        Ok(())
    }

    /// Writes the queue from the calling thread while the writer is parked, or wakes the
    /// writer when someone else holds the transport.
    fn write_direct(&self) {
        if let Some(mut out) = self.out.try_lock() {
            if let Some(o) = out.as_mut() {
                let mut batch = Batch::default();
                if self.outbound.take_direct(&mut batch) {
                    // Whatever the socket does not take now is the writer's to send.
                    o.half.set_write_deadline(Some(Instant::now()));
                    self.write_batch(o, &batch);
                    o.half.set_write_deadline(None);
                    let pending = o.half.has_pending();
                    drop(out);
                    self.outbound.direct_done(batch, pending);
                    return;
                }
            }
        }
        self.outbound.wake_writer();
    }

    /// Writes `batch` to the transport. On failure keeps what never left (its publishes, from
    /// the operation the failure cut) for the next connection, reports the failure to the
    /// supervisor, and returns `false`.
    pub(crate) fn write_batch(&self, o: &mut Out, batch: &Batch) -> bool {
        let mut sent = 0;
        match o.half.write_tracked(&batch.bytes, &mut sent) {
            Ok(()) => true,
            Err(e) => {
                self.outbound.write_failed(batch, sent);
                let _ = self.ctl.send(Ctl::Failed {
                    gen: o.gen,
                    clean: false,
                    err: Error::io("writing to the server", e),
                });
                false
            }
        }
    }

    /// Queues a control operation (SUB, UNSUB, PONG); while disconnected, nothing is queued.
    pub(crate) fn send_control(&self, f: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        self.outbound.control(f)
    }

    // ------------------------------------------------------------------ flushing

    /// A PING/PONG round trip: when it returns, the server has processed everything sent
    /// before it, and everything it sent before its PONG has been dispatched.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.outbound.ping(Some(tx))?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no PONG within {timeout:?}"),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone_error()),
        }
    }

    /// A keepalive PING from the supervisor.
    pub(crate) fn keepalive_ping(&self) {
        let _ = self.outbound.ping(None);
    }

    /// The PONG for the oldest PING in flight arrived (reader thread).
    pub(crate) fn pong(&self) {
        self.pings_out.store(0, Ordering::Relaxed);
        self.outbound.pong();
    }

    /// The error for a caller whose connection went away under it.
    pub(crate) fn gone_error(&self) -> Error {
        self.outbound
            .error()
            .unwrap_or_else(|| Error::new(ErrorKind::Disconnected, "the connection was lost"))
    }

    // ------------------------------------------------------------------ subscriptions

    pub(crate) fn next_sid(&self) -> u64 {
        self.next_sid.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a subscription and sends SUB (holding the table, so a reconnect replays it
    /// or this sends it, never neither).
    pub(crate) fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<(u64, Receiver<Delivery>, Arc<SubCounters>)> {
        let (sid, (rx, counters)) = self.add_subscription(
            subject,
            queue,
            |table, sid| table.add(sid, subject, queue),
            |table, sid| table.unsubscribe(sid, None),
        )?;
        Ok((sid, rx, counters))
    }

    /// What every kind of subscription does to start: checks the subject, the queue group and
    /// the state, adds the table entry (`add`) and sends SUB holding the table, so that no
    /// message for the new sid can arrive before its entry; `remove` takes the entry back if
    /// SUB cannot be queued.
    pub(crate) fn add_subscription<T>(
        &self,
        subject: &str,
        queue: Option<&str>,
        add: impl FnOnce(&mut Table, u64) -> T,
        remove: impl FnOnce(&mut Table, u64),
    ) -> Result<(u64, T)> {
        subject::validate_subscribe(subject)?;
        if let Some(q) = queue {
            subject::validate_queue(q)?;
        }
        self.may_subscribe()?;
        let sid = self.next_sid();
        let mut table = self.table.lock();
        let added = add(&mut table, sid);
        if let Err(e) = self.send_control(|b| encode::sub(b, subject, queue, sid)) {
            remove(&mut table, sid);
            return Err(e);
        }
        Ok((sid, added))
    }

    /// New subscriptions are refused while draining and once closed.
    fn may_subscribe(&self) -> Result<()> {
        match self.state() {
            State::Draining => Err(Error::new(
                ErrorKind::Draining,
                "the connection is draining: no new subscriptions",
            )),
            State::Closed => Err(self.gone_error()),
            _ => Ok(()),
        }
    }

    /// Sends UNSUB. With `max`, the subscription ends after `max` messages in total; without,
    /// it ends now.
    pub(crate) fn unsubscribe(&self, sid: u64, max: Option<u64>) -> Result<()> {
        self.table.lock().unsubscribe(sid, max);
        self.send_control(|b| encode::unsub(b, sid, max))
    }

    /// Unsubscribes `sids` and waits (at most `timeout`, one round trip for all) until every
    /// message the server sent before the UNSUBs is queued; then each stream ends after them.
    /// Used by a subscription's drain, a service's stop and the connection's drain.
    pub(crate) fn drain_subscriptions(&self, sids: &[u64], timeout: Duration) -> Result<()> {
        let unsub = |sid: u64| move |b: &mut Vec<u8>| encode::unsub(b, sid, None);
        let mut r = sids
            .iter()
            .try_for_each(|&sid| self.send_control(unsub(sid)));
        if r.is_ok() {
            r = self.flush(timeout);
        }
        for &sid in sids {
            self.forget_sub(sid);
        }
        if r.is_err() {
            // The UNSUBs may have gone down with a connection while a reconnect replayed the
            // SUBs. Now that the entries are gone nothing replays them: say UNSUB again (a
            // no-op while disconnected, and harmless if the server already has them).
            for &sid in sids {
                let _ = self.send_control(unsub(sid));
            }
        }
        r
    }

    /// Ends a subscription's stream without UNSUB (after a drain).
    pub(crate) fn forget_sub(&self, sid: u64) {
        self.table.lock().unsubscribe(sid, None);
    }

    /// The live subscriptions, in sid order.
    pub(crate) fn subscriptions(&self) -> Vec<crate::subscription::SubscriptionInfo> {
        let table = self.table.lock();
        let mut out: Vec<_> = table
            .subs
            .iter()
            .map(|(sid, e)| {
                let c = &e.counters;
                let taken = c.taken_msgs.load(Ordering::Relaxed);
                crate::subscription::SubscriptionInfo {
                    sid: *sid,
                    subject: e.subject.clone(),
                    queue: e.queue.clone(),
                    pending_msgs: e.delivered.saturating_sub(taken),
                    pending_bytes: e
                        .queued_bytes
                        .saturating_sub(c.taken_bytes.load(Ordering::Relaxed)),
                    delivered: taken,
                    dropped: c.dropped.load(Ordering::Relaxed),
                    max: e.max,
                }
            })
            .collect();
        out.sort_by_key(|i| i.sid);
        out
    }

    /// Unsubscribes `sid` if it is still live (not ended by an unsubscribe, a drain, a
    /// reached `max` or the server); what dropping a subscription does.
    pub(crate) fn unsubscribe_if_live(&self, sid: u64) -> Result<()> {
        let live = self.table.lock().subs.remove(&sid).is_some();
        if !live {
            return Ok(());
        }
        self.send_control(|b| encode::unsub(b, sid, None))
    }

    // ------------------------------------------------------------------ requests

    /// Registers a request waiter on the shared inbox, creating the inbox subscription on
    /// first use. Returns the reply subject.
    pub(crate) fn register_waiter(
        &self,
        subject: &str,
        many: bool,
    ) -> Result<(String, Receiver<Result<Message>>)> {
        let mut table = self.table.lock();
        let (reply, rx, first) = table.add_waiter(subject, many, || self.next_sid());
        if let Some((sid, wildcard)) = first {
            if let Err(e) = self.send_control(|b| encode::sub(b, &wildcard, None, sid)) {
                table.remove_waiter(&reply);
                return Err(e);
            }
        }
        Ok((reply, rx))
    }

    pub(crate) fn remove_waiter(&self, reply: &str) {
        self.table.lock().remove_waiter(reply);
    }

    /// Sends a request and waits for one reply, at most `timeout` in all.
    pub(crate) fn request(
        &self,
        subject: &str,
        headers: Option<&Headers>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message> {
        let deadline = crate::time::deadline_after(timeout);
        let (reply, rx) = self.register_waiter(subject, false)?;
        if let Err(e) = self.publish_urgent(subject, Some(&reply), headers, payload, Some(deadline))
        {
            self.remove_waiter(&reply);
            return Err(e);
        }
        match wait_reply(&rx, deadline) {
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

    // ------------------------------------------------------------------ info and events

    pub(crate) fn stats(&self) -> Stats {
        let (out_msgs, out_bytes) = self.outbound.counts();
        Stats {
            in_msgs: self.in_msgs.load(Ordering::Relaxed),
            in_bytes: self.in_bytes.load(Ordering::Relaxed),
            out_msgs,
            out_bytes,
            events_dropped: self.events.dropped(),
        }
    }

    pub(crate) fn emit(&self, e: Event) {
        self.events.emit(e)
    }

    /// The server's INFO (handshake or reader thread).
    pub(crate) fn update_info(&self, info: ServerInfo) {
        if info.max_payload > 0 {
            self.max_payload.store(info.max_payload, Ordering::Relaxed);
        }
        *self.info.write() = Arc::new(info);
    }

    // ------------------------------------------------------------------ ending

    /// Flushes, then has the supervisor close, and waits for it: all within `close_timeout`
    /// (plus a short grace for the threads to be joined). If the supervisor cannot finish in
    /// time, the connection is closed from here.
    pub(crate) fn close(&self) -> Result<()> {
        if self.state() == State::Closed {
            return Ok(());
        }
        let deadline = crate::time::deadline_after(self.opts.close_timeout);
        if self.outbound.error().is_none() {
            let _ = self.flush(self.opts.close_timeout);
        }
        let _ = self.ctl.send(Ctl::Close(deadline));
        let grace = deadline.checked_add(CLOSE_GRACE).unwrap_or(deadline);
        if !self.lifecycle.wait_closed(grace) {
            log::error!("the supervisor did not close the connection in time; closing it here");
            if let Some(s) = self.socket.lock().take() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            self.finish(Some(Error::new(
                ErrorKind::Closed,
                "the supervisor did not close the connection in time",
            )));
        }
        Ok(())
    }

    /// Waits until the connection is closed, at most until `deadline`; `true` when closed.
    pub(crate) fn wait_closed(&self, deadline: Instant) -> bool {
        self.lifecycle.wait_closed(deadline)
    }

    /// Drains, then closes: UNSUB for every subscription, a PING/PONG so that everything sent
    /// before the UNSUBs is dispatched, then `close`, all within `drain_timeout`.
    pub(crate) fn drain(&self) -> Result<()> {
        match self.lifecycle.apply(Transition::Drain) {
            Ok(_) => {}
            Err(Refused::AlreadyDraining) => {
                return Err(Error::new(ErrorKind::Draining, "already draining"))
            }
            Err(Refused::Closed) => return Err(Error::new(ErrorKind::Closed, "already closed")),
        }
        let sids: Vec<u64> = self.table.lock().subs.keys().copied().collect();
        let result = self.drain_subscriptions(&sids, self.opts.drain_timeout);
        let close = self.close();
        result.and(close)
    }

    /// Ends every subscription and request, records why, and marks the connection closed.
    /// Runs once, whoever calls it first.
    pub(crate) fn finish(&self, reason: Option<Error>) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let closed = match &reason {
            None => Error::new(ErrorKind::Closed, "the connection was closed"),
            Some(e) => {
                Error::new(ErrorKind::Closed, "the connection was lost").with_source(e.clone())
            }
        };
        let lost = self.outbound.fail(closed.clone());
        if lost > 0 {
            log::warn!("closing with {lost} bytes of publishes that could not be sent");
        }
        self.table.lock().clear();
        self.disconnect_hooks.fire(&closed);
        *self.close_reason.lock() = reason.clone();
        *self.url.write() = None;
        // The event first: whoever `close()` or `closed()` wakes must find it queued.
        self.emit(Event::Closed { reason });
        self.transition(Transition::Close);
    }
}

/// How long a request's caller keeps looking for its reply before it parks. A reply that
/// comes within it is taken without the wake-up of a parked thread, which costs tens of
/// microseconds on a busy machine (a third of a loopback round trip). Only a caller with a
/// request outstanding spends it, yielding the processor between looks; an idle connection
/// spends nothing.
const REPLY_SPIN: Duration = Duration::from_micros(150);

/// Waits for a request's reply until `deadline`: looks for it (yielding in between) for up
/// to [`REPLY_SPIN`], then parks.
fn wait_reply<T>(rx: &Receiver<T>, deadline: Instant) -> std::result::Result<T, RecvTimeoutError> {
    let spin_until = (Instant::now() + REPLY_SPIN).min(deadline);
    loop {
        match rx.try_recv() {
            Ok(r) => return Ok(r),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return Err(RecvTimeoutError::Disconnected)
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        if Instant::now() >= spin_until {
            return rx.recv_deadline(deadline);
        }
        std::thread::yield_now();
    }
}
