//! Pipelined publishing: a bounded window of outstanding acks, a [`PubAckFuture`] per
//! publish, collected by whichever call waits (no thread of its own).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::publish::{no_stream, parse_ack, PubAck, PublishOptions, RETRY_ATTEMPTS, RETRY_WAIT};
use super::JetStream;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::int_hash::IntHash;
use crate::message::Message;
use crate::subscription::Subscription;
use crate::time::deadline_after;

/// While acks are outstanding, how often the connection is checked for a reconnect (replies
/// to publishes sent before it never come): the bound on how late they are failed.
const RECONNECT_CHECK: Duration = Duration::from_millis(100);

impl JetStream {
    /// Publishes without waiting for the ack: the returned [`PubAckFuture`] gets it later.
    ///
    /// At most [`max_pending`](super::JetStreamOptions::publish_async_max_pending) acks
    /// (4000 by default) are outstanding: past that this call waits for acks, up to the
    /// context's timeout ([`ErrorKind::Timeout`]). Acks are collected by whichever call
    /// waits for them ([`PubAckFuture::wait`], [`wait_for_acks`](JetStream::wait_for_acks),
    /// or this one when the window is full); a dropped future still holds its slot until its
    /// ack arrives. When the connection is lost, every outstanding ack fails with
    /// [`ErrorKind::Disconnected`] (the message may or may not be stored: publish with a
    /// [`msg_id`](PublishOptions::msg_id) to retry safely). Resends after a no-responders
    /// answer can reorder messages.
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
        let deadline = deadline_after(options.timeout.unwrap_or(self.timeout));
        let payload = Bytes::copy_from_slice(payload);
        let id = p.reserve(
            deadline,
            Pending {
                subject: subject.to_string(),
                headers: headers.clone(),
                payload: payload.clone(),
                attempts: 0,
                live: true,
            },
        )?;
        if let Err(e) = p.send(id, subject, headers.as_ref(), &payload) {
            p.state.lock().pending.remove(&id);
            p.cv.notify_all();
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
        if p.drive(deadline_after(timeout), |st| st.pending.is_empty()) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{} acks still outstanding after {timeout:?}",
                    p.state.lock().pending.len()
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
            .map_or(0, |p| p.state.lock().pending.len())
    }

    fn async_publisher(&self) -> Result<Arc<AsyncPublisher>> {
        let mut slot = self.publisher.lock();
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let prefix = format!("{}.", self.nc.new_inbox());
        let sub = self.nc.subscribe(&format!("{prefix}*"))?;
        let p = Arc::new(AsyncPublisher {
            nc: self.nc.clone(),
            sub,
            prefix,
            max_pending: self.max_pending,
            state: Mutex::new(AsyncState {
                next_id: 0,
                pending: HashMap::default(),
                done: HashMap::default(),
                retries: VecDeque::new(),
                draining: false,
                gen: self.nc.transport_generation(),
                gen_checked: Instant::now(),
            }),
            cv: Condvar::new(),
        });
        *slot = Some(p.clone());
        Ok(p)
    }
}

/// The pipelined publisher of a context (shared by its clones): one wildcard reply
/// subscription, the outstanding publishes, and the acks not yet picked up.
pub(crate) struct AsyncPublisher {
    nc: crate::Connection,
    sub: Subscription,
    prefix: String,
    max_pending: usize,
    state: Mutex<AsyncState>,
    cv: Condvar,
}

struct AsyncState {
    next_id: u64,
    /// Sent, ack not yet in.
    pending: HashMap<u64, Pending, IntHash>,
    /// Acks in (or failures) for futures that have not taken them yet.
    done: HashMap<u64, Result<PubAck>, IntHash>,
    /// Publishes to resend after a no-responders answer, in due order.
    retries: VecDeque<(Instant, u64)>,
    /// A thread is reading the reply subscription (the others wait on the condvar).
    draining: bool,
    /// The transport the outstanding publishes went out on, and when that was last checked.
    gen: Option<u64>,
    gen_checked: Instant,
}

struct Pending {
    subject: String,
    headers: Option<Headers>,
    payload: Bytes,
    attempts: u8,
    /// Its future is alive (otherwise the ack is dropped when it comes).
    live: bool,
}

impl AsyncPublisher {
    /// Takes a slot in the window (waiting for acks while it is full).
    fn reserve(&self, deadline: Instant, entry: Pending) -> Result<u64> {
        let mut entry = Some(entry);
        loop {
            {
                let mut st = self.state.lock();
                if st.pending.len() < self.max_pending {
                    st.next_id += 1;
                    let id = st.next_id;
                    st.pending.insert(id, entry.take().expect("inserted once"));
                    return Ok(id);
                }
            }
            let max = self.max_pending;
            if !self.drive(deadline, |st| st.pending.len() < max) {
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
        payload: &Bytes,
    ) -> Result<()> {
        let reply = format!("{}{id}", self.prefix);
        match headers {
            None => self.nc.publish_with_reply(subject, &reply, payload),
            Some(h) => self.nc.publish_message(
                &Message::new(subject, payload.clone())
                    .with_reply(reply)
                    .with_headers(h.clone()),
            ),
        }
    }

    /// Reads acks until `done` holds or `deadline` passes; `true` if `done` holds. One
    /// thread at a time reads the subscription; the others wait for it to hand them results.
    fn drive(&self, deadline: Instant, mut done: impl FnMut(&AsyncState) -> bool) -> bool {
        let mut st = self.state.lock();
        loop {
            if done(&st) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if st.draining {
                self.cv.wait_until(&mut st, deadline);
                continue;
            }
            st.draining = true;
            let due = take_due(&mut st, now);
            let next_retry = st.retries.front().map(|(t, _)| *t);
            drop(st);
            for (id, subject, headers, payload) in due {
                if let Err(e) = self.send(id, &subject, headers.as_ref(), &payload) {
                    self.resolve(&mut self.state.lock(), id, Err(e));
                }
            }
            let mut until = deadline.min(now + RECONNECT_CHECK);
            if let Some(t) = next_retry {
                until = until.min(t);
            }
            let got = self
                .sub
                .next_timeout(until.saturating_duration_since(Instant::now()));
            st = self.state.lock();
            st.draining = false;
            match got {
                Ok(m) => {
                    self.route(&mut st, m);
                    while let Some(m) = self.sub.try_next() {
                        self.route(&mut st, m);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Timeout => {}
                Err(e) => self.fail_all(&mut st, e),
            }
            // Every RECONNECT_CHECK while acks are outstanding (acks may keep flowing for
            // publishes sent after a quick reconnect while older ones never get theirs).
            let now = Instant::now();
            if !st.pending.is_empty() && now >= st.gen_checked + RECONNECT_CHECK {
                st.gen_checked = now;
                drop(st);
                let gen = self.nc.transport_generation();
                st = self.state.lock();
                self.check_generation(&mut st, gen);
            }
            self.cv.notify_all();
        }
    }

    /// Fails what was sent on a transport that is gone: its acks will never come.
    fn check_generation(&self, st: &mut AsyncState, gen: Option<u64>) {
        if st.gen == gen {
            return;
        }
        if st.gen.is_some() {
            self.fail_all(
                st,
                Error::new(
                    ErrorKind::Disconnected,
                    "the connection was lost before the ack came",
                ),
            );
        }
        st.gen = gen;
    }

    fn fail_all(&self, st: &mut AsyncState, e: Error) {
        let ids: Vec<u64> = st.pending.keys().copied().collect();
        for id in ids {
            self.resolve(st, id, Err(e.clone()));
        }
        st.retries.clear();
    }

    fn resolve(&self, st: &mut AsyncState, id: u64, r: Result<PubAck>) {
        if let Some(p) = st.pending.remove(&id) {
            if p.live {
                st.done.insert(id, r);
            }
        }
    }

    fn route(&self, st: &mut AsyncState, m: Message) {
        let Some(id) = m
            .subject
            .strip_prefix(self.prefix.as_str())
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return;
        };
        if m.is_no_responders() {
            if let Some(p) = st.pending.get_mut(&id) {
                if p.attempts < RETRY_ATTEMPTS {
                    p.attempts += 1;
                    st.retries.push_back((Instant::now() + RETRY_WAIT, id));
                    return;
                }
                let subject = p.subject.clone();
                self.resolve(st, id, Err(no_stream(&subject)));
            }
            return;
        }
        self.resolve(st, id, parse_ack(&m));
    }
}

type Resend = (u64, String, Option<Headers>, Bytes);

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
        if p.drive(deadline_after(timeout), |st| st.done.contains_key(&id)) {
            let r = p.state.lock().done.remove(&id).expect("the condition held");
            self.result = Some(r.clone());
            return r;
        }
        Err(Error::new(
            ErrorKind::Timeout,
            format!("no ack within {timeout:?}"),
        ))
    }

    /// The ack if it is already in (collecting acks that arrived, without waiting).
    pub fn try_get(&mut self) -> Option<Result<PubAck>> {
        if self.result.is_none() {
            let p = &self.publisher;
            let mut st = p.state.lock();
            if !st.draining {
                while let Some(m) = p.sub.try_next() {
                    p.route(&mut st, m);
                }
            }
            let r = st.done.remove(&self.id)?;
            self.result = Some(r);
        }
        self.result.clone()
    }
}

impl Drop for PubAckFuture {
    fn drop(&mut self) {
        if self.result.is_some() {
            return;
        }
        let mut st = self.publisher.state.lock();
        if st.done.remove(&self.id).is_none() {
            if let Some(p) = st.pending.get_mut(&self.id) {
                p.live = false;
            }
        }
    }
}
