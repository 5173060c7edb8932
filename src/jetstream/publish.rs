//! Publishing to streams: waiting for each ack ([`JetStream::publish`]) or pipelined with a
//! bounded window of outstanding acks ([`JetStream::publish_async`]).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use serde::Deserialize;

use super::api::api_error;
use super::JetStream;
use crate::error::{ApiError, Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::message::Message;
use crate::subscription::Subscription;
use crate::time::deadline_after;

/// How long to wait before resending a publish nobody answered (ADR-22, nats.go).
const RETRY_WAIT: Duration = Duration::from_millis(250);
/// Resends after a no-responders answer (ADR-22, nats.go): three attempts in all.
const RETRY_ATTEMPTS: u8 = 2;
/// While acks are outstanding, how often the connection is checked for a reconnect (replies
/// to publishes sent before it never come): the bound on how late they are failed.
const RECONNECT_CHECK: Duration = Duration::from_millis(100);

/// The stream's acknowledgement of a stored message.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubAck {
    /// The stream that stored it.
    pub stream: String,
    /// Its stream sequence.
    pub sequence: u64,
    /// `true` when a message with the same `Nats-Msg-Id` was already stored within the
    /// duplicate window (then `sequence` is the original's).
    pub duplicate: bool,
    /// The JetStream domain, if any.
    pub domain: Option<String>,
}

/// Headers and expectations for a publish ([`JetStream::publish_with`]).
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    msg_id: Option<String>,
    expected_stream: Option<String>,
    expected_last_seq: Option<u64>,
    expected_last_subject_seq: Option<u64>,
    expected_last_subject_seq_subject: Option<String>,
    expected_last_msg_id: Option<String>,
    ttl: Option<Duration>,
    headers: Option<Headers>,
    timeout: Option<Duration>,
}

impl PublishOptions {
    /// No headers, the context's timeout.
    pub fn new() -> PublishOptions {
        PublishOptions::default()
    }

    /// `Nats-Msg-Id`: the stream stores one message per id within its duplicate window.
    pub fn msg_id(mut self, id: impl Into<String>) -> Self {
        self.msg_id = Some(id.into());
        self
    }

    /// `Nats-Expected-Stream`: fail unless this stream captures the subject.
    pub fn expected_stream(mut self, stream: impl Into<String>) -> Self {
        self.expected_stream = Some(stream.into());
        self
    }

    /// `Nats-Expected-Last-Sequence`: fail ([`ErrorKind::WrongLastSequence`]) unless the
    /// stream's last sequence is `seq`.
    pub fn expected_last_sequence(mut self, seq: u64) -> Self {
        self.expected_last_seq = Some(seq);
        self
    }

    /// `Nats-Expected-Last-Subject-Sequence`: fail ([`ErrorKind::WrongLastSequence`]) unless
    /// the last message on the subject has sequence `seq` (0: there is none).
    pub fn expected_last_subject_sequence(mut self, seq: u64) -> Self {
        self.expected_last_subject_seq = Some(seq);
        self
    }

    /// `Nats-Expected-Last-Subject-Sequence-Subject`: the subject (filter) the expected last
    /// subject sequence refers to, instead of the published subject.
    pub fn expected_last_subject_sequence_subject(mut self, subject: impl Into<String>) -> Self {
        self.expected_last_subject_seq_subject = Some(subject.into());
        self
    }

    /// `Nats-Expected-Last-Msg-Id`: fail unless the stream's last message has this id.
    pub fn expected_last_msg_id(mut self, id: impl Into<String>) -> Self {
        self.expected_last_msg_id = Some(id.into());
        self
    }

    /// `Nats-TTL`: the message expires after `ttl` (at least 1 s; the stream needs
    /// `allow_msg_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Headers of the message (the options' headers are added to them).
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers = Some(headers);
        self
    }

    /// How long to wait for the ack (default: the context's timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn is_plain(&self) -> bool {
        self.msg_id.is_none()
            && self.expected_stream.is_none()
            && self.expected_last_seq.is_none()
            && self.expected_last_subject_seq.is_none()
            && self.expected_last_subject_seq_subject.is_none()
            && self.expected_last_msg_id.is_none()
            && self.ttl.is_none()
            && self.headers.is_none()
    }

    /// The headers to send: `base` (a message's own), the options' headers, then the
    /// JetStream ones. `None` when there are none.
    fn build_headers(&self, base: Option<&Headers>) -> Option<Headers> {
        if self.is_plain() {
            return base.cloned();
        }
        let mut h = base.cloned().unwrap_or_default();
        if let Some(extra) = &self.headers {
            for (k, v) in extra.iter() {
                h.append(k, v);
            }
        }
        if let Some(v) = &self.msg_id {
            h.insert("Nats-Msg-Id", v.as_str());
        }
        if let Some(v) = &self.expected_stream {
            h.insert("Nats-Expected-Stream", v.as_str());
        }
        if let Some(v) = self.expected_last_seq {
            h.insert("Nats-Expected-Last-Sequence", v.to_string());
        }
        if let Some(v) = self.expected_last_subject_seq {
            h.insert("Nats-Expected-Last-Subject-Sequence", v.to_string());
        }
        if let Some(v) = &self.expected_last_subject_seq_subject {
            h.insert("Nats-Expected-Last-Subject-Sequence-Subject", v.as_str());
        }
        if let Some(v) = &self.expected_last_msg_id {
            h.insert("Nats-Expected-Last-Msg-Id", v.as_str());
        }
        if let Some(ttl) = self.ttl {
            h.insert("Nats-TTL", format_ttl(ttl));
        }
        Some(h)
    }
}

/// A TTL as nats-server reads it (a Go duration).
fn format_ttl(ttl: Duration) -> String {
    if ttl.subsec_nanos() == 0 {
        format!("{}s", ttl.as_secs())
    } else {
        format!("{}ms", ttl.as_millis().max(1))
    }
}

#[derive(Deserialize)]
struct AckReply {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    domain: Option<String>,
}

/// Reads a stream's reply to a publish.
pub(crate) fn parse_ack(msg: &Message) -> Result<PubAck> {
    if let Some(status) = msg.status() {
        let desc = msg
            .headers
            .as_ref()
            .and_then(Headers::description)
            .unwrap_or("");
        let kind = if status == 503 {
            ErrorKind::NoResponders
        } else {
            ErrorKind::JetStream
        };
        return Err(Error::new(
            kind,
            format!("publish answered {status} {desc}"),
        ));
    }
    let r: AckReply = serde_json::from_slice(&msg.payload).map_err(|e| {
        Error::new(ErrorKind::Protocol, "malformed JetStream publish ack").with_source(e)
    })?;
    if let Some(api) = r.error {
        return Err(api_error(api));
    }
    if r.stream.is_empty() {
        return Err(Error::new(
            ErrorKind::Protocol,
            "a JetStream publish ack without a stream",
        ));
    }
    Ok(PubAck {
        stream: r.stream,
        sequence: r.seq,
        duplicate: r.duplicate,
        domain: r.domain,
    })
}

fn no_stream(subject: &str) -> Error {
    Error::new(
        ErrorKind::NoResponders,
        format!("no stream captures '{subject}' (no answer after 3 attempts)"),
    )
}

impl JetStream {
    /// Publishes `payload` to `subject` and waits for the stream's ack (at most the
    /// context's timeout). A subject no stream captures fails with
    /// [`ErrorKind::NoResponders`] after two resends 250 ms apart (ADR-22), not after the
    /// timeout.
    pub fn publish(&self, subject: &str, payload: impl AsRef<[u8]>) -> Result<PubAck> {
        self.publish_inner(subject, None, payload.as_ref(), &PublishOptions::default())
    }

    /// [`publish`](JetStream::publish) with headers and expectations.
    pub fn publish_with(
        &self,
        subject: &str,
        payload: impl AsRef<[u8]>,
        options: &PublishOptions,
    ) -> Result<PubAck> {
        self.publish_inner(subject, None, payload.as_ref(), options)
    }

    /// Publishes a [`Message`] (its subject, headers and payload; its reply subject is
    /// ignored) and waits for the ack.
    pub fn publish_message(&self, msg: &Message, options: &PublishOptions) -> Result<PubAck> {
        self.publish_inner(&msg.subject, msg.headers.as_ref(), &msg.payload, options)
    }

    fn publish_inner(
        &self,
        subject: &str,
        base: Option<&Headers>,
        payload: &[u8],
        options: &PublishOptions,
    ) -> Result<PubAck> {
        crate::subject::validate_publish(subject)?;
        let headers = options.build_headers(base);
        let timeout = options.timeout.unwrap_or(self.timeout);
        let deadline = deadline_after(timeout);
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply =
                self.nc
                    .request_with_headers_timeout(subject, headers.as_ref(), payload, left);
            match reply {
                Ok(m) => return parse_ack(&m),
                Err(e) if e.kind() == ErrorKind::NoResponders => {
                    if attempt == RETRY_ATTEMPTS {
                        return Err(no_stream(subject));
                    }
                    attempt += 1;
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left <= RETRY_WAIT {
                        return Err(no_stream(subject));
                    }
                    std::thread::sleep(RETRY_WAIT);
                }
                Err(e) => return Err(e),
            }
        }
    }

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
    pending: HashMap<u64, Pending, IdHash>,
    /// Acks in (or failures) for futures that have not taken them yet.
    done: HashMap<u64, Result<PubAck>, IdHash>,
    /// Publishes to resend after a no-responders answer, in due order.
    retries: VecDeque<(Instant, u64)>,
    /// A thread is reading the reply subscription (the others wait on the condvar).
    draining: bool,
    /// The transport the outstanding publishes went out on, and when that was last checked.
    gen: Option<u64>,
    gen_checked: Instant,
}

/// Publish ids are consecutive integers we hand out: a multiplicative hash is enough (SipHash
/// showed up in profiles of the pipelined publish).
type IdHash = std::hash::BuildHasherDefault<IdHasher>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(payload: &str) -> Message {
        Message::new("_INBOX.x", payload.to_string())
    }

    #[test]
    fn acks() {
        let a = parse_ack(&reply(r#"{"stream":"S","seq":7,"domain":"hub"}"#)).unwrap();
        assert_eq!(
            (a.stream.as_str(), a.sequence, a.duplicate),
            ("S", 7, false)
        );
        assert_eq!(a.domain.as_deref(), Some("hub"));
        let d = parse_ack(&reply(r#"{"stream":"S","seq":7,"duplicate":true}"#)).unwrap();
        assert!(d.duplicate);
        let e = parse_ack(&reply(
            r#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}"#,
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongLastSequence);
        for bad in ["", "{}", r#"{"seq":1}"#, "[", r#"{"stream":5}"#] {
            assert_eq!(
                parse_ack(&reply(bad)).unwrap_err().kind(),
                ErrorKind::Protocol,
                "{bad}"
            );
        }
        let mut h = Headers::new();
        h.set_status(503, None);
        let nr = Message::new("x", "").with_headers(h);
        assert_eq!(parse_ack(&nr).unwrap_err().kind(), ErrorKind::NoResponders);
    }

    #[test]
    fn option_headers() {
        assert!(PublishOptions::new().build_headers(None).is_none());
        let mut base = Headers::new();
        base.insert("A", "1");
        let h = PublishOptions::new()
            .msg_id("m1")
            .expected_stream("S")
            .expected_last_sequence(4)
            .expected_last_subject_sequence(0)
            .expected_last_subject_sequence_subject("a.*")
            .expected_last_msg_id("m0")
            .ttl(Duration::from_secs(2))
            .build_headers(Some(&base))
            .unwrap();
        assert_eq!(h.get("A"), Some("1"));
        assert_eq!(h.get("Nats-Msg-Id"), Some("m1"));
        assert_eq!(h.get("Nats-Expected-Stream"), Some("S"));
        assert_eq!(h.get("Nats-Expected-Last-Sequence"), Some("4"));
        assert_eq!(h.get("Nats-Expected-Last-Subject-Sequence"), Some("0"));
        assert_eq!(
            h.get("Nats-Expected-Last-Subject-Sequence-Subject"),
            Some("a.*")
        );
        assert_eq!(h.get("Nats-Expected-Last-Msg-Id"), Some("m0"));
        assert_eq!(h.get("Nats-TTL"), Some("2s"));
        assert_eq!(format_ttl(Duration::from_millis(1500)), "1500ms");
    }
}
