//! Pipelined publishing: a bounded window of outstanding acks and a [`PubAckFuture`] per
//! publish. No thread of its own: acks are taken in on the connection's reader thread (an
//! internal dispatch subscription, a whole read at a time), which frees their slots and wakes
//! whoever waits, so the window empties with nobody waiting; when a transport ends, the
//! connection's supervisor fails the acks still outstanding at once (a disconnect hook).
//!
//! The publishes are queued lazily: they leave with the next write of anything, once 64 KiB
//! are queued, as soon as a call waits for an ack ([`PubAckFuture::wait`],
//! [`JetStream::wait_for_acks`], a full window), and otherwise within a millisecond. A run of
//! them then costs a write per batch, not a wake-up of the writer thread per publish.
//!
//! No-responders answers (503) are retried as ADR-22 says: 250 ms later, three attempts in
//! all. The reader thread never sends (a publish may wait for room in the write buffer): it
//! marks the publish due for a resend, and the resend is made on a caller's thread by the
//! next call that waits ([`PubAckFuture::wait`], [`JetStream::wait_for_acks`], a
//! `publish_async` waiting for a slot, each waking when a resend falls due) or publishes
//! (`publish_async` first resends what is due). A program that neither waits nor publishes
//! leaves such a publish outstanding (counted by [`JetStream::pending_acks`]) until it does.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::publish::{
    no_stream, parse_ack_parts, PubAck, PublishOptions, RETRY_ATTEMPTS, RETRY_WAIT,
};
use super::JetStream;
use crate::connection::hooks::{Delivered, DisconnectHook, DispatchSub};
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::int_hash::IntHash;
use crate::time::deadline_after;

impl JetStream {
    /// Publishes without waiting for the ack: the returned [`PubAckFuture`] gets it later.
    ///
    /// At most [`max_pending`](super::JetStreamOptions::publish_async_max_pending) acks
    /// (4000 by default) are outstanding: past that this call waits for a slot, up to the
    /// context's timeout ([`ErrorKind::Timeout`]). Acks are taken in by the connection's
    /// reader thread as they arrive, whether anyone waits or not; a dropped future frees its
    /// slot when its ack arrives. When the connection is lost, every outstanding ack fails at
    /// once with [`ErrorKind::Disconnected`] (the message may or may not be stored: publish
    /// with a [`msg_id`](PublishOptions::msg_id) to retry safely), and when it is closed,
    /// with [`ErrorKind::Closed`]. A publish answered by no-responders is resent by a later
    /// call on this context (see the module notes); resends can reorder messages.
    pub fn publish_async(&self, subject: &str, payload: impl AsRef<[u8]>) -> Result<PubAckFuture> {
        self.publish_async_inner(subject, None, payload.as_ref(), &PublishOptions::default())
    }

    /// [`publish_async`](JetStream::publish_async) with headers and expectations (the
    /// options' timeout bounds the wait for a free slot).
    pub fn publish_async_with(
        &self,
        subject: &str,
        payload: impl AsRef<[u8]>,
        options: &PublishOptions,
    ) -> Result<PubAckFuture> {
        self.publish_async_inner(subject, None, payload.as_ref(), options)
    }

    fn publish_async_inner(
        &self,
        subject: &str,
        base: Option<&Headers>,
        payload: &[u8],
        options: &PublishOptions,
    ) -> Result<PubAckFuture> {
        crate::subject::validate_publish(subject)?;
        // Checked here too (headers are added by the core's own check at send), so that an
        // oversized payload is refused before the reply subscription is made.
        let max = self.nc.max_payload();
        if payload.len() > max {
            return Err(Error::new(
                ErrorKind::MaxPayload,
                format!(
                    "{} bytes of payload, the server allows {max}",
                    payload.len()
                ),
            ));
        }
        let headers = options.build_headers(base);
        let p = self.async_publisher()?;
        p.resend_due();
        let timeout = options.timeout.unwrap_or(self.timeout);
        let id = p.reserve(
            timeout,
            Pending {
                subject: p.subject(subject),
                headers: headers.clone(),
                // Kept for a resend (no responders).
                payload: Bytes::copy_from_slice(payload),
                attempts: 0,
                live: true,
            },
        )?;
        if let Err(e) = p.send(id, subject, headers.as_ref(), payload) {
            p.window.state.lock().pending.remove(&id);
            p.window.cv.notify_all();
            return Err(e);
        }
        Ok(PubAckFuture {
            publisher: p,
            id,
            result: None,
        })
    }

    /// Waits until every ack of [`publish_async`](JetStream::publish_async) is in (received
    /// or failed), up to `timeout` ([`ErrorKind::Timeout`]).
    pub fn wait_for_acks(&self, timeout: Duration) -> Result<()> {
        let Some(p) = self.publisher.lock().clone() else {
            return Ok(());
        };
        if p.wait(deadline_after(timeout), |st| st.pending.is_empty()) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{} acks still outstanding after {timeout:?}",
                    p.window.state.lock().pending.len()
                ),
            ))
        }
    }

    /// Acks outstanding from [`publish_async`](JetStream::publish_async) on this context and
    /// its clones (each [`Connection::jetstream`](crate::Connection::jetstream) call makes a
    /// context with a window of its own).
    pub fn pending_acks(&self) -> usize {
        self.publisher
            .lock()
            .as_ref()
            .map_or(0, |p| p.window.state.lock().pending.len())
    }

    /// The context's publisher, made on first use (and made again if the server refused
    /// the reply subscription of the last one).
    fn async_publisher(&self) -> Result<Arc<AsyncPublisher>> {
        let mut slot = self.publisher.lock();
        if let Some(p) = slot.as_ref() {
            if !p.window.is_broken.load(Ordering::Acquire) {
                return Ok(p.clone());
            }
        }
        let window = Arc::new(Window::new(
            format!("{}.", self.nc.new_inbox()),
            self.max_pending,
        ));
        // The callbacks hold the window only, never the connection (see `hooks.rs`).
        let w = window.clone();
        let acks = self
            .nc
            .subscribe_dispatch(&format!("{}*", window.prefix), move |run| {
                w.on_delivery(run)
            })?;
        let w = window.clone();
        let hook = self.nc.on_disconnect(move |why| w.lost(why));
        let p = Arc::new(AsyncPublisher {
            _acks: acks,
            _hook: hook,
            window,
            nc: self.nc.clone(),
            last_subject: Mutex::new(Arc::from("")),
        });
        *slot = Some(p.clone());
        Ok(p)
    }
}

/// The pipelined publisher of a context (shared by its clones).
pub(crate) struct AsyncPublisher {
    // The guards come first, so they end while the connection is still held.
    _acks: DispatchSub,
    _hook: DisconnectHook,
    window: Arc<Window>,
    nc: crate::Connection,
    /// The subject of the last publish: most programs publish to one subject, which is then
    /// kept once rather than once per outstanding publish.
    last_subject: Mutex<Arc<str>>,
}

/// What the callers, the reader thread (acks) and the supervisor (disconnects) share.
struct Window {
    /// `<inbox>.`: a publish's reply subject is the prefix and its id.
    prefix: String,
    max_pending: usize,
    state: Mutex<AsyncState>,
    /// Signalled whenever an ack is resolved or a resend is scheduled.
    cv: Condvar,
    /// `state.broken` is set: read without the lock on every publish.
    is_broken: AtomicBool,
    /// `state.retries` is not empty (kept up to date under the lock; read without it on every
    /// publish, so a publish looks for due resends only when there are some).
    has_retries: AtomicBool,
}

struct AsyncState {
    next_id: u64,
    /// Sent, ack not yet in.
    pending: HashMap<u64, Pending, IntHash>,
    /// Outcomes for futures that have not taken them yet.
    done: HashMap<u64, Outcome, IntHash>,
    /// Publishes to resend after a no-responders answer, in due order.
    retries: VecDeque<(Instant, u64)>,
    /// The server refused the reply subscription: no ack can come.
    broken: Option<Error>,
    /// Futures waiting for their own ack: while there are any, every read that brings acks
    /// wakes the waiters.
    futures_waiting: usize,
    /// Publishers waiting for a slot in the full window.
    slots_waiting: usize,
    /// What the publishes that got their answer kept for a resend, freed by a publishing
    /// thread (`AsyncPublisher::reserve`) rather than the reader: memory goes back where it
    /// came from, and the reader never touches the shared subject's count.
    spent: Vec<Pending>,
}

/// Spent entries a publisher frees at a time.
const SPENT_BATCH: usize = 64;

/// Payloads bigger than this are freed at once by whoever ends their publish (their freeing
/// costs little beside their size; holding them would not).
const SPENT_MAX_PAYLOAD: usize = 4096;

struct Pending {
    /// Shared by consecutive publishes to the same subject (see `AsyncPublisher::subject`).
    subject: Arc<str>,
    headers: Option<Headers>,
    payload: Bytes,
    attempts: u8,
    /// Its future is alive (otherwise the ack is dropped when it comes).
    live: bool,
}

/// How a publish ended. The reply is parsed by whoever takes it, not on the reader thread.
enum Outcome {
    Reply {
        headers: Option<Headers>,
        payload: Bytes,
    },
    Failed(Error),
}

impl Outcome {
    fn into_result(self) -> Result<PubAck> {
        match self {
            Outcome::Reply { headers, payload } => parse_ack_parts(headers.as_ref(), &payload),
            Outcome::Failed(e) => Err(e),
        }
    }
}

impl Window {
    fn new(prefix: String, max_pending: usize) -> Window {
        Window {
            prefix,
            max_pending,
            state: Mutex::new(AsyncState {
                next_id: 0,
                pending: HashMap::default(),
                done: HashMap::default(),
                retries: VecDeque::new(),
                broken: None,
                futures_waiting: 0,
                slots_waiting: 0,
                spent: Vec::new(),
            }),
            cv: Condvar::new(),
            is_broken: AtomicBool::new(false),
            has_retries: AtomicBool::new(false),
        }
    }

    /// The messages of one read (or the refusal) of the reply subscription, on the reader
    /// thread: only in-memory work, under one hold of the window's lock, and at most one
    /// wake-up.
    fn on_delivery(&self, run: &mut dyn Iterator<Item = Result<Delivered<'_>>>) {
        let mut st = self.state.lock();
        let mut changed = false;
        for d in run {
            changed |= match d {
                Ok(m) => self.route(&mut st, m, Instant::now),
                Err(e) => {
                    fail_all(&mut st, &e);
                    st.broken = Some(e);
                    self.is_broken.store(true, Ordering::Release);
                    true
                }
            };
        }
        // A publisher waiting for a slot is woken once the window is down to its low water
        // mark, and `wait_for_acks` once nothing is outstanding, not for every ack (a wake-up
        // per ack would cost the reader thread a system call per message); a future waiting
        // for its own ack, on every change.
        let wake = changed
            && (st.futures_waiting > 0
                || st.pending.is_empty()
                || (st.slots_waiting > 0 && st.pending.len() <= low_water(self.max_pending))
                || !st.retries.is_empty());
        // Nothing outstanding: no publisher is busy, so nothing is held for one to free.
        let spent = if st.pending.is_empty() {
            std::mem::take(&mut st.spent)
        } else {
            Vec::new()
        };
        drop(st);
        if wake {
            self.cv.notify_all();
        }
        drop(spent);
    }

    /// A transport ended or the connection closed (supervisor thread): nothing outstanding
    /// will get its ack.
    fn lost(&self, why: &Error) {
        let e = Error::new(why.kind(), "the connection was lost before the ack came")
            .with_source(why.clone());
        let mut st = self.state.lock();
        if st.pending.is_empty() {
            return;
        }
        fail_all(&mut st, &e);
        let spent = std::mem::take(&mut st.spent);
        drop(st);
        self.cv.notify_all();
        drop(spent);
    }

    /// Takes in a reply; `true` if it changed anything. The clock (`now`) is read only for a
    /// resend.
    fn route(&self, st: &mut AsyncState, m: Delivered<'_>, now: impl FnOnce() -> Instant) -> bool {
        let Some(id) = m
            .subject
            .strip_prefix(self.prefix.as_str())
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return false;
        };
        let headers = match m.headers() {
            Ok(h) => h,
            Err(e) => return resolve(st, id, || Outcome::Failed(e)),
        };
        let status = headers.as_ref().and_then(Headers::status);
        if status == Some(503) && m.payload.is_empty() {
            let Some(p) = st.pending.get_mut(&id) else {
                return false;
            };
            if p.attempts < RETRY_ATTEMPTS {
                p.attempts += 1;
                st.retries.push_back((now() + RETRY_WAIT, id));
                self.has_retries.store(true, Ordering::Release);
                return true;
            }
            let e = no_stream(&p.subject);
            return resolve(st, id, || Outcome::Failed(e));
        }
        resolve(st, id, || Outcome::Reply {
            headers,
            payload: Bytes::copy_from_slice(m.payload),
        })
    }
}

/// Outstanding acks at which a publisher waiting for a slot is woken: an eighth of the window
/// below full.
fn low_water(max_pending: usize) -> usize {
    max_pending - max_pending / 8
}

/// Ends publish `id` with `outcome` (made and kept only if its future is alive); `true` if
/// it was outstanding.
fn resolve(st: &mut AsyncState, id: u64, outcome: impl FnOnce() -> Outcome) -> bool {
    let Some(p) = st.pending.remove(&id) else {
        return false;
    };
    if p.live {
        st.done.insert(id, outcome());
    }
    if p.payload.len() <= SPENT_MAX_PAYLOAD {
        st.spent.push(p);
    }
    true
}

fn fail_all(st: &mut AsyncState, e: &Error) {
    let ids: Vec<u64> = st.pending.keys().copied().collect();
    for id in ids {
        resolve(st, id, || Outcome::Failed(e.clone()));
    }
    st.retries.clear();
}

type Resend = (u64, Arc<str>, Option<Headers>, Bytes);

/// The publishes whose resend time has come.
fn take_due(st: &mut AsyncState, now: Instant) -> Vec<Resend> {
    let mut due = Vec::new();
    while let Some(&(t, id)) = st.retries.front() {
        if t > now {
            break;
        }
        st.retries.pop_front();
        if let Some(p) = st.pending.get(&id) {
            due.push((id, p.subject.clone(), p.headers.clone(), p.payload.clone()));
        }
    }
    due
}

impl AsyncPublisher {
    /// `subject`, shared with the last publish's when it is the same.
    fn subject(&self, subject: &str) -> Arc<str> {
        let mut last = self.last_subject.lock();
        if &**last != subject {
            *last = Arc::from(subject);
        }
        last.clone()
    }

    /// Takes a slot in the window (waiting up to `timeout` for one while it is full; the clock
    /// is read only then). Frees, on this thread, a batch of what publishes that got their
    /// answer kept (`AsyncState::spent`).
    fn reserve(&self, timeout: Duration, entry: Pending) -> Result<u64> {
        let max = self.window.max_pending;
        let mut entry = Some(entry);
        let mut deadline = None;
        loop {
            {
                let mut st = self.window.state.lock();
                if let Some(e) = &st.broken {
                    return Err(e.clone());
                }
                if st.pending.len() < max {
                    st.next_id += 1;
                    let id = st.next_id;
                    st.pending.insert(id, entry.take().expect("inserted once"));
                    let spent = (st.spent.len() >= SPENT_BATCH).then(|| {
                        std::mem::replace(&mut st.spent, Vec::with_capacity(2 * SPENT_BATCH))
                    });
                    drop(st);
                    drop(spent);
                    return Ok(id);
                }
            }
            let low = low_water(max);
            let ready = |st: &AsyncState| st.pending.len() <= low || st.broken.is_some();
            let deadline = *deadline.get_or_insert_with(|| deadline_after(timeout));
            self.window.state.lock().slots_waiting += 1;
            let freed = self.wait(deadline, ready);
            let mut st = self.window.state.lock();
            st.slots_waiting -= 1;
            if !freed && st.pending.len() >= max {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("{max} acks outstanding: no slot freed in time"),
                ));
            }
        }
    }

    fn send(
        &self,
        id: u64,
        subject: &str,
        headers: Option<&Headers>,
        payload: &[u8],
    ) -> Result<()> {
        let prefix = self.window.prefix.as_bytes();
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(id).as_bytes();
        // The reply subject is built on the stack (no allocation per publish).
        let mut buf = [0u8; 128];
        let n = prefix.len() + digits.len();
        let on_stack = (n <= buf.len())
            .then(|| {
                buf[..prefix.len()].copy_from_slice(prefix);
                buf[prefix.len()..n].copy_from_slice(digits);
                std::str::from_utf8(&buf[..n]).ok()
            })
            .flatten();
        let reply = match on_stack {
            Some(r) => std::borrow::Cow::Borrowed(r),
            None => std::borrow::Cow::Owned(format!("{}{id}", self.window.prefix)),
        };
        // Lazily: a run of pipelined publishes goes out in batches, not with a wake-up of the
        // writer each; whoever waits for an ack sends them first (`wait`).
        self.nc
            .handle
            .shared
            .publish_lazy(subject, Some(&*reply), headers, payload)
    }

    /// Resends what is due (without waiting for anything else); the clock is read only when
    /// a resend is scheduled.
    fn resend_due(&self) {
        let due = {
            if !self.window.has_retries.load(Ordering::Acquire) {
                return;
            }
            let mut st = self.window.state.lock();
            let due = take_due(&mut st, Instant::now());
            self.window
                .has_retries
                .store(!st.retries.is_empty(), Ordering::Release);
            due
        };
        self.resend(due);
    }

    /// Sends `due` again (the window unlocked); a publish that cannot be sent fails.
    fn resend(&self, due: Vec<Resend>) {
        for (id, subject, headers, payload) in due {
            if let Err(e) = self.send(id, &subject, headers.as_ref(), &payload) {
                resolve(&mut self.window.state.lock(), id, || Outcome::Failed(e));
                self.window.cv.notify_all();
            }
        }
    }

    /// Waits until `done` holds or `deadline` passes, resending publishes as they fall due;
    /// `true` if `done` holds.
    fn wait(&self, deadline: Instant, mut done: impl FnMut(&AsyncState) -> bool) -> bool {
        // The publishes whose acks are waited for may still be queued lazily.
        self.nc.handle.shared.outbound.send_lazy();
        let w = &self.window;
        let mut st = w.state.lock();
        loop {
            if done(&st) {
                return true;
            }
            let now = Instant::now();
            let due = take_due(&mut st, now);
            if !due.is_empty() {
                drop(st);
                self.resend(due);
                st = w.state.lock();
                continue;
            }
            if now >= deadline {
                return false;
            }
            let until = st
                .retries
                .front()
                .map_or(deadline, |&(t, _)| t.min(deadline));
            w.cv.wait_until(&mut st, until);
        }
    }
}

/// The ack of one [`JetStream::publish_async`], to wait for or to drop.
///
/// Dropping it means "I do not care about this ack": the publish still counts against the
/// window until its ack arrives.
pub struct PubAckFuture {
    publisher: Arc<AsyncPublisher>,
    id: u64,
    result: Option<Result<PubAck>>,
}

impl fmt::Debug for PubAckFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubAckFuture")
            .field("id", &self.id)
            .field("result", &self.result)
            .finish()
    }
}

impl PubAckFuture {
    /// Waits up to `timeout` for the ack. [`ErrorKind::Timeout`] means not yet (wait
    /// again if you like); any other result is final and returned again by later calls.
    pub fn wait(&mut self, timeout: Duration) -> Result<PubAck> {
        if let Some(r) = &self.result {
            return r.clone();
        }
        let id = self.id;
        let p = &self.publisher;
        let mut st = p.window.state.lock();
        let mut outcome = st.done.remove(&id);
        if outcome.is_none() {
            st.futures_waiting += 1;
            drop(st);
            let got = p.wait(deadline_after(timeout), |st| st.done.contains_key(&id));
            st = p.window.state.lock();
            st.futures_waiting -= 1;
            outcome = if got { st.done.remove(&id) } else { None };
        }
        drop(st);
        if let Some(o) = outcome {
            let r = o.into_result();
            self.result = Some(r.clone());
            return r;
        }
        Err(Error::new(
            ErrorKind::Timeout,
            format!("no ack within {timeout:?}"),
        ))
    }

    /// The ack if it is already in (never waits, never sends).
    pub fn try_get(&mut self) -> Option<Result<PubAck>> {
        if self.result.is_none() {
            let outcome = self.publisher.window.state.lock().done.remove(&self.id)?;
            self.result = Some(outcome.into_result());
        }
        self.result.clone()
    }
}

impl Drop for PubAckFuture {
    fn drop(&mut self) {
        if self.result.is_some() {
            return;
        }
        let mut st = self.publisher.window.state.lock();
        if st.done.remove(&self.id).is_none() {
            if let Some(p) = st.pending.get_mut(&self.id) {
                p.live = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn window(max: usize) -> Window {
        Window::new("_INBOX.abc.".to_string(), max)
    }

    /// Registers publish `id` as sent, as `reserve` does.
    fn sent(w: &Window, id: u64, live: bool) {
        w.state.lock().pending.insert(
            id,
            Pending {
                subject: "orders".into(),
                headers: None,
                payload: Bytes::from_static(b"x"),
                attempts: 0,
                live,
            },
        );
    }

    fn ack(w: &Window, id: u64, seq: u64) -> Result<Message> {
        let body = format!(r#"{{"stream":"S","seq":{seq}}}"#);
        Ok(Message::new(format!("{}{id}", w.prefix), body))
    }

    fn no_responders(w: &Window, id: u64) -> Message {
        let mut h = Headers::new();
        h.set_status(503, None);
        Message::new(format!("{}{id}", w.prefix), Bytes::new()).with_headers(h)
    }

    /// Delivers `d` alone, as the reader does for a read that holds one reply.
    fn deliver(w: &Window, d: Result<Message>) {
        match d {
            Ok(m) => w.on_delivery(&mut std::iter::once(Ok(view(&m, &mut Vec::new())))),
            Err(e) => w.on_delivery(&mut std::iter::once(Err(e))),
        }
    }

    /// `m` as the reader hands it to a dispatch callback (`block`: its header block).
    fn view<'a>(m: &'a Message, block: &'a mut Vec<u8>) -> Delivered<'a> {
        if let Some(h) = &m.headers {
            h.encode(block);
        }
        Delivered {
            subject: &m.subject,
            headers: m.headers.as_ref().map(|_| &block[..]),
            payload: &m.payload,
        }
    }

    fn outcome(w: &Window, id: u64) -> Option<Result<PubAck>> {
        w.state.lock().done.remove(&id).map(Outcome::into_result)
    }

    #[test]
    fn an_ack_frees_its_slot_and_is_kept_for_a_live_future_only() {
        let w = window(10);
        sent(&w, 1, true);
        sent(&w, 2, false);
        // One read's run of two acks.
        let (a, b) = (ack(&w, 1, 7).unwrap(), ack(&w, 2, 8).unwrap());
        w.on_delivery(
            &mut [Ok(view(&a, &mut Vec::new())), Ok(view(&b, &mut Vec::new()))].into_iter(),
        );
        assert!(w.state.lock().pending.is_empty());
        assert_eq!(
            w.state.lock().done.len(),
            1,
            "the dropped future's ack is not kept"
        );
        assert_eq!(outcome(&w, 1).unwrap().unwrap().sequence, 7);
        // A second answer, an unknown id, a foreign subject: nothing changes.
        deliver(&w, ack(&w, 1, 9));
        deliver(&w, ack(&w, 99, 9));
        deliver(&w, Ok(Message::new("_INBOX.other.1", "{}")));
        deliver(&w, Ok(Message::new(format!("{}x", w.prefix), "{}")));
        assert!(w.state.lock().done.is_empty());
    }

    #[test]
    fn no_responders_schedules_resends_then_fails_as_no_stream() {
        let w = window(10);
        sent(&w, 1, true);
        let t0 = Instant::now();
        for attempt in 1..=RETRY_ATTEMPTS {
            let mut st = w.state.lock();
            assert!(w.route(&mut st, view(&no_responders(&w, 1), &mut Vec::new()), || t0));
            assert_eq!(st.pending[&1].attempts, attempt);
            assert!(take_due(&mut st, t0).is_empty(), "not due yet");
            let due = take_due(&mut st, t0 + RETRY_WAIT);
            assert_eq!(due.len(), 1);
            assert_eq!((due[0].0, &*due[0].1), (1, "orders"));
        }
        deliver(&w, Ok(no_responders(&w, 1)));
        let e = outcome(&w, 1).unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoResponders);
        assert!(w.state.lock().pending.is_empty());
    }

    #[test]
    fn an_answer_with_a_header_block_that_does_not_parse_fails_its_publish() {
        let w = window(10);
        sent(&w, 1, true);
        let subject = format!("{}1", w.prefix);
        let bad = Delivered {
            subject: &subject,
            headers: Some(b"HTTP/1.1 200\r\n\r\n"),
            payload: b"{}",
        };
        w.on_delivery(&mut std::iter::once(Ok(bad)));
        assert!(w.state.lock().pending.is_empty());
        assert_eq!(
            outcome(&w, 1).unwrap().unwrap_err().kind(),
            ErrorKind::Protocol
        );
    }

    #[test]
    fn a_resend_of_a_publish_answered_meanwhile_is_skipped() {
        let w = window(10);
        sent(&w, 1, true);
        let t0 = Instant::now();
        w.route(
            &mut w.state.lock(),
            view(&no_responders(&w, 1), &mut Vec::new()),
            || t0,
        );
        deliver(&w, ack(&w, 1, 3));
        assert!(take_due(&mut w.state.lock(), t0 + RETRY_WAIT).is_empty());
    }

    #[test]
    fn a_lost_connection_fails_everything_outstanding_with_its_kind() {
        let w = window(10);
        sent(&w, 1, true);
        sent(&w, 2, true);
        sent(&w, 3, false);
        w.route(
            &mut w.state.lock(),
            view(&no_responders(&w, 2), &mut Vec::new()),
            Instant::now,
        );
        deliver(&w, ack(&w, 1, 1));
        w.lost(&Error::new(ErrorKind::Disconnected, "gone"));
        let st = w.state.lock();
        assert!(st.pending.is_empty() && st.retries.is_empty());
        drop(st);
        assert_eq!(
            outcome(&w, 1).unwrap().unwrap().sequence,
            1,
            "already acked"
        );
        assert_eq!(
            outcome(&w, 2).unwrap().unwrap_err().kind(),
            ErrorKind::Disconnected
        );
        assert!(outcome(&w, 3).is_none());
        sent(&w, 4, true);
        w.lost(&Error::bare(ErrorKind::Closed));
        assert_eq!(
            outcome(&w, 4).unwrap().unwrap_err().kind(),
            ErrorKind::Closed
        );
    }

    #[test]
    fn a_refused_reply_subscription_fails_everything_and_breaks_the_window() {
        let w = window(10);
        sent(&w, 1, true);
        deliver(&w, Err(Error::bare(ErrorKind::PermissionViolation)));
        assert_eq!(
            outcome(&w, 1).unwrap().unwrap_err().kind(),
            ErrorKind::PermissionViolation
        );
        assert!(w.state.lock().broken.is_some());
    }

    #[test]
    fn a_waiter_is_woken_by_an_ack_from_another_thread() {
        let w = Arc::new(window(10));
        sent(&w, 1, true);
        let reader = w.clone();
        let t = std::thread::spawn(move || deliver(&reader, ack(&reader, 1, 5)));
        let deadline = deadline_after(Duration::from_secs(10));
        let mut st = w.state.lock();
        while !st.done.contains_key(&1) {
            assert!(
                !w.cv.wait_until(&mut st, deadline).timed_out(),
                "no wake-up"
            );
        }
        drop(st);
        t.join().unwrap();
        assert_eq!(outcome(&w, 1).unwrap().unwrap().sequence, 5);
    }
}
