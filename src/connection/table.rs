//! The subscription and request table: who gets each incoming message.
//!
//! Subscriptions by sid, each with its queue and pending counters; requests waiting on the
//! shared `<inbox prefix>.<nuid>.*` subscription by token. One lock guards both (they are
//! looked up together for every message), held only for in-memory work. Routing is plain code
//! on plain data: the tests here need no socket and no thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::connection::batch::{Batch, Collector, Entry};
use crate::connection::outbound;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::int_hash::IntHash;
use crate::message::Message;
use crate::proto::encode;

/// What travels from the reader thread to a subscription.
pub(crate) enum Delivery {
    /// The messages of one read (see [`batch`](super::batch)).
    Batch(Batch),
    /// The server ended the subscription (a permissions violation).
    Err(Error),
}

/// Counters a subscription shares with the reader thread. What is pending is what was queued
/// minus what was taken; the reader writes only plain stores here (it is the one writer of the
/// queued side), the subscription only adds to the taken side. The two sides lie on different
/// cache lines, so that neither thread's writes slow the other down.
#[derive(Default)]
#[repr(C)]
pub(crate) struct SubCounters {
    /// Bytes queued so far (what the messages hold, see [`Entry::held`]).
    pub(crate) queued_bytes: AtomicU64,
    /// Messages queued so far.
    pub(crate) queued_msgs: AtomicU64,
    /// When the first message arrived (set once by the reader thread).
    pub(crate) first_at: std::sync::OnceLock<std::time::Instant>,
    pub(crate) slow: AtomicBool,
    _apart: [u64; 16],
    /// Messages and bytes handed out by the subscription (written only by `next_taken`, under
    /// the subscription's cursor lock).
    pub(crate) taken_msgs: AtomicU64,
    pub(crate) taken_bytes: AtomicU64,
    /// Messages dropped past the pending limits. The reader writes it only when it drops, and
    /// `next_timeout` reads it on every call: it lives on the subscription's line.
    pub(crate) dropped: AtomicU64,
    /// Drops already reported to the reader of the subscription as `SlowConsumer`.
    pub(crate) dropped_reported: AtomicU64,
}

pub(crate) struct SubEntry {
    pub(crate) subject: String,
    pub(crate) queue: Option<String>,
    pub(crate) tx: Sender<Delivery>,
    pub(crate) counters: Arc<SubCounters>,
    /// Auto-unsubscribe after this many messages in total.
    pub(crate) max: Option<u64>,
    /// Messages and bytes queued to the subscription so far.
    pub(crate) delivered: u64,
    pub(crate) queued_bytes: u64,
    /// The subscription's taken counts as last read: what is pending is at most what was
    /// queued minus these, so the counters are read again only near the pending limits.
    taken_seen: (u64, u64),
    /// Messages the server sent for this sid, dropped ones included: what its count for an
    /// auto-unsubscribe is made of.
    pub(crate) received: u64,
}

pub(crate) type Subs = HashMap<u64, SubEntry, IntHash>;

/// An internal subscription served on the reader thread by a callback instead of a queue
/// (see `hooks.rs`): no pending limits, no auto-unsubscribe, not listed among the user's
/// subscriptions. The callback must be cheap and never block; a panic in it is contained.
#[derive(Clone)]
pub(crate) struct Dispatch(Arc<DispatchFn>);

/// A dispatch callback: given the messages for its subscription of one read of the socket, in
/// order (or the one error that ends the subscription), so that it takes its own lock and
/// wakes its waiters once per read rather than once per message.
pub(crate) type DispatchFn =
    dyn for<'a> Fn(&mut dyn Iterator<Item = Result<Delivered<'a>>>) + Send + Sync;

/// A message for a dispatch subscription, borrowed from the reader's buffer: the callback
/// copies what it keeps (often nothing, or a few bytes), so nothing is allocated for it first.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
pub(crate) struct Delivered<'a> {
    pub(crate) subject: &'a str,
    /// The header block (`HMSG`), unparsed: see [`Delivered::headers`].
    pub(crate) headers: Option<&'a [u8]>,
    pub(crate) payload: &'a [u8],
}

#[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
impl Delivered<'_> {
    /// The headers, parsed ([`ErrorKind::Protocol`] for a block that does not parse).
    pub(crate) fn headers(&self) -> Result<Option<Headers>> {
        self.headers.map(Headers::parse).transpose()
    }
}

impl Dispatch {
    pub(crate) fn new(
        f: impl for<'a> Fn(&mut dyn Iterator<Item = Result<Delivered<'a>>>) + Send + Sync + 'static,
    ) -> Dispatch {
        Dispatch(Arc::new(f))
    }

    /// Calls the callback with `run`, containing a panic. Call it with no lock held: it may
    /// take locks of the layer that registered it.
    pub(crate) fn call<'a>(&self, mut run: impl Iterator<Item = Result<Delivered<'a>>>) {
        let _ = crate::callback::contain("dispatch", || {
            (self.0)(&mut run);
            Ok(())
        });
    }
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dispatch")
    }
}

impl PartialEq for Dispatch {
    fn eq(&self, other: &Dispatch) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

struct DispatchEntry {
    subject: String,
    f: Dispatch,
}

/// A request waiting for replies on the shared inbox.
pub(crate) struct Waiter {
    /// The subject the request went to, to route a publish permission error to it.
    pub(crate) subject: String,
    pub(crate) tx: Sender<Result<Message>>,
    /// More than one reply expected (`request_many`): the waiter stays after a reply.
    pub(crate) many: bool,
}

/// Pending limits of subscriptions (0: no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) msgs: usize,
    pub(crate) bytes: usize,
}

/// What became of an incoming message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Queued to its subscription or handed to its request.
    Delivered,
    /// Dropped past the pending limits; `Some` for the first drop of an episode, with the
    /// subject and the drops so far, to report.
    Dropped(Option<(String, u64)>),
    /// Nobody wants it (it crossed our UNSUB, or its request gave up).
    Unwanted,
}

pub(crate) struct Table {
    pub(crate) subs: Subs,
    /// `<inbox prefix>.<nuid>.`
    prefix: String,
    /// The sid of the `<prefix>*` subscription, 0 until the first request.
    inbox_sid: u64,
    next_token: u64,
    waiters: HashMap<String, Waiter>,
    /// Dispatch subscriptions by sid (sids are shared with `subs`).
    dispatch: HashMap<u64, DispatchEntry, IntHash>,
}

impl Table {
    pub(crate) fn new(inbox_prefix: &str) -> Table {
        Table {
            subs: Subs::default(),
            prefix: format!("{inbox_prefix}.{}.", nuid::next()),
            inbox_sid: 0,
            next_token: 0,
            waiters: HashMap::new(),
            dispatch: HashMap::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn inbox_sid(&self) -> u64 {
        self.inbox_sid
    }

    /// Adds a subscription; returns its queue and counters.
    pub(crate) fn add(
        &mut self,
        sid: u64,
        subject: &str,
        queue: Option<&str>,
    ) -> (Receiver<Delivery>, Arc<SubCounters>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(SubCounters::default());
        self.subs.insert(
            sid,
            SubEntry {
                subject: subject.to_string(),
                queue: queue.map(str::to_string),
                tx,
                counters: counters.clone(),
                max: None,
                delivered: 0,
                queued_bytes: 0,
                taken_seen: (0, 0),
                received: 0,
            },
        );
        (rx, counters)
    }

    /// Ends a subscription now (`max: None`) or after `max` messages in total.
    pub(crate) fn unsubscribe(&mut self, sid: u64, max: Option<u64>) {
        match max {
            None => {
                self.subs.remove(&sid);
            }
            Some(n) => {
                if let Some(e) = self.subs.get_mut(&sid) {
                    if e.received >= n {
                        self.subs.remove(&sid);
                    } else {
                        e.max = Some(n);
                    }
                }
            }
        }
    }

    /// `true` for the sid of the request inbox: its messages go to [`reply`](Table::reply).
    pub(crate) fn is_inbox(&self, sid: u64) -> bool {
        sid == self.inbox_sid && sid != 0
    }

    /// The callback of dispatch subscription `sid`, if it is one: its messages go to the
    /// callback, called with the table released.
    pub(crate) fn dispatch_for(&self, sid: u64) -> Option<Dispatch> {
        if self.dispatch.is_empty() {
            return None;
        }
        self.dispatch.get(&sid).map(|d| d.f.clone())
    }

    /// Routes a message the server sent for subscription `sid`: adds it to what `out` sends
    /// the subscription at the end of the read, or drops it past the pending limits.
    pub(crate) fn route(
        &mut self,
        sid: u64,
        entry: Entry,
        limits: Limits,
        out: &mut Collector,
    ) -> Routed {
        let Some(sub) = self.subs.get_mut(&sid) else {
            return Routed::Unwanted;
        };
        sub.received += 1;
        // The server ends an auto-unsubscribed sid after `max` messages, dropped ones included.
        // The queue closes once `out` has sent this last batch.
        if sub.max.is_some_and(|max| sub.received >= max) {
            let mut e = self.subs.remove(&sid).expect("present");
            return queue(&mut e, sid, entry, limits, out);
        }
        queue(sub, sid, entry, limits, out)
    }

    /// Hands a message on the request inbox to its request.
    pub(crate) fn reply(&mut self, msg: Message) -> Routed {
        let Some(token) = msg.subject.strip_prefix(self.prefix.as_str()) else {
            return Routed::Unwanted;
        };
        let no_responders = msg.is_no_responders();
        let Some(waiter) = self.waiters.get(token) else {
            return Routed::Unwanted;
        };
        if waiter.many && !no_responders {
            let _ = waiter.tx.send(Ok(msg));
            return Routed::Delivered;
        }
        let token = token.to_string();
        let waiter = self.waiters.remove(&token).expect("present");
        let reply = if no_responders {
            Err(Error::new(
                ErrorKind::NoResponders,
                format!("nobody is subscribed to '{}'", waiter.subject),
            ))
        } else {
            Ok(msg)
        };
        let _ = waiter.tx.send(reply);
        Routed::Delivered
    }

    /// Registers a request waiter; returns the reply subject, the waiter's queue, and the sid
    /// of the inbox subscription when this is the first request (the caller sends its SUB).
    pub(crate) fn add_waiter(
        &mut self,
        subject: &str,
        many: bool,
        new_sid: impl FnOnce() -> u64,
    ) -> (String, Receiver<Result<Message>>, Option<(u64, String)>) {
        let (tx, rx) = if many {
            crossbeam_channel::unbounded()
        } else {
            crossbeam_channel::bounded(1)
        };
        let mut first = None;
        if self.inbox_sid == 0 {
            self.inbox_sid = new_sid();
            first = Some((self.inbox_sid, format!("{}*", self.prefix)));
        }
        self.next_token += 1;
        let token = self.next_token.to_string();
        let reply = format!("{}{}", self.prefix, token);
        self.waiters.insert(
            token,
            Waiter {
                subject: subject.to_string(),
                tx,
                many,
            },
        );
        (reply, rx, first)
    }

    pub(crate) fn remove_waiter(&mut self, reply: &str) {
        if let Some(token) = reply.strip_prefix(self.prefix.as_str()) {
            let token = token.to_string();
            self.waiters.remove(&token);
        }
    }

    /// The server refused a subscription: end every subscription on it (and fail every request
    /// if it was our inbox).
    pub(crate) fn refuse_subscription(&mut self, subject: &str, queue: Option<&str>, err: &Error) {
        let hit: Vec<u64> = self
            .subs
            .iter()
            .filter(|(_, e)| e.subject == subject && e.queue.as_deref() == queue)
            .map(|(sid, _)| *sid)
            .collect();
        for sid in hit {
            if let Some(e) = self.subs.remove(&sid) {
                let _ = e.tx.send(Delivery::Err(err.clone()));
            }
        }
        if queue.is_none() && subject.strip_suffix('*') == Some(self.prefix.as_str()) {
            for (_, w) in self.waiters.drain() {
                let _ = w.tx.send(Err(err.clone()));
            }
            self.inbox_sid = 0;
        }
    }

    /// The server refused a publish: fail the requests sent to that subject.
    pub(crate) fn refuse_publish(&mut self, subject: &str, err: &Error) {
        let hit: Vec<String> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.subject == subject)
            .map(|(t, _)| t.clone())
            .collect();
        for t in hit {
            if let Some(w) = self.waiters.remove(&t) {
                let _ = w.tx.send(Err(err.clone()));
            }
        }
    }

    /// Adds a dispatch subscription: its messages go to `f` (see [`Routed::Dispatch`]).
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    pub(crate) fn add_dispatch(&mut self, sid: u64, subject: &str, f: Dispatch) {
        let subject = subject.to_string();
        self.dispatch.insert(sid, DispatchEntry { subject, f });
    }

    /// Ends a dispatch subscription; `true` if it was live.
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    pub(crate) fn remove_dispatch(&mut self, sid: u64) -> bool {
        self.dispatch.remove(&sid).is_some()
    }

    /// The server refused a subscription: end the dispatch subscriptions on it (dispatch
    /// subscriptions have no queue group) and return their callbacks, to be told with the
    /// table released.
    pub(crate) fn refuse_dispatch(&mut self, subject: &str, queue: Option<&str>) -> Vec<Dispatch> {
        if queue.is_some() || self.dispatch.is_empty() {
            return Vec::new();
        }
        let hit: Vec<u64> = self
            .dispatch
            .iter()
            .filter(|(_, d)| d.subject == subject)
            .map(|(sid, _)| *sid)
            .collect();
        hit.iter()
            .filter_map(|sid| self.dispatch.remove(sid))
            .map(|d| d.f)
            .collect()
    }

    /// The SUBs that restore every live subscription (and the request inbox) on a new
    /// connection, in sid order; an auto-unsubscribe is followed by its remaining count.
    pub(crate) fn replay(&self) -> outbound::Batch {
        let mut out = outbound::Batch::default();
        let mut sids: Vec<&u64> = self.subs.keys().chain(self.dispatch.keys()).collect();
        sids.sort();
        for sid in sids {
            if let Some(d) = self.dispatch.get(sid) {
                out.push(true, |b| encode::sub(b, &d.subject, None, *sid));
                continue;
            }
            let e = &self.subs[sid];
            out.push(true, |b| {
                encode::sub(b, &e.subject, e.queue.as_deref(), *sid)
            });
            if let Some(max) = e.max {
                out.push(true, |b| {
                    encode::unsub(b, *sid, Some(max.saturating_sub(e.received)))
                });
            }
        }
        if self.inbox_sid != 0 {
            let wildcard = format!("{}*", self.prefix);
            out.push(true, |b| encode::sub(b, &wildcard, None, self.inbox_sid));
        }
        out
    }

    /// The connection closed: every subscription and request ends.
    pub(crate) fn clear(&mut self) {
        self.subs.clear();
        self.waiters.clear();
        self.dispatch.clear();
    }
}

/// Queues a message to the subscription, or drops and counts it past the pending limits.
fn queue(
    sub: &mut SubEntry,
    sid: u64,
    entry: Entry,
    limits: Limits,
    out: &mut Collector,
) -> Routed {
    let c = &sub.counters;
    if sub.received == 1 {
        let _ = c.first_at.set(std::time::Instant::now());
    }
    let held = entry.held();
    let over = |sub: &SubEntry| {
        let pending_msgs = sub.delivered.saturating_sub(sub.taken_seen.0) as usize;
        let pending_bytes = sub.queued_bytes.saturating_sub(sub.taken_seen.1) as usize;
        (limits.msgs > 0 && pending_msgs >= limits.msgs)
            || (limits.bytes > 0 && pending_bytes + held > limits.bytes)
    };
    if over(sub) {
        sub.taken_seen = (
            c.taken_msgs.load(Ordering::Relaxed),
            c.taken_bytes.load(Ordering::Relaxed),
        );
    }
    if over(sub) {
        let dropped = c.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if !c.slow.swap(true, Ordering::Relaxed) {
            return Routed::Dropped(Some((sub.subject.clone(), dropped)));
        }
        return Routed::Dropped(None);
    }
    if c.slow.load(Ordering::Relaxed) {
        c.slow.store(false, Ordering::Relaxed);
    }
    sub.delivered += 1;
    sub.queued_bytes += held as u64;
    c.queued_bytes.store(sub.queued_bytes, Ordering::Relaxed);
    c.queued_msgs.store(sub.delivered, Ordering::Relaxed);
    out.push(sid, &sub.tx, entry);
    Routed::Delivered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::batch::ENTRY_OVERHEAD;
    use crate::headers::Headers;
    use bytes::Bytes;

    const NONE: Limits = Limits { msgs: 0, bytes: 0 };

    /// One read of `MSG`s with these subjects and payloads: its bytes and their entries.
    fn read(msgs: &[(&str, &[u8])]) -> (Bytes, Vec<Entry>) {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for (subject, payload) in msgs {
            buf.extend_from_slice(b"MSG ");
            let s = buf.len();
            buf.extend_from_slice(subject.as_bytes());
            buf.extend_from_slice(format!(" 1 {}\r\n", payload.len()).as_bytes());
            let p = buf.len();
            buf.extend_from_slice(payload);
            buf.extend_from_slice(b"\r\n");
            ranges.push((s..s + subject.len(), p..p + payload.len()));
        }
        let entries = ranges
            .into_iter()
            .map(|(s, p)| {
                let subject = std::str::from_utf8(&buf[s]).unwrap();
                Entry::locate(&buf, subject, None, None, &buf[p]).unwrap()
            })
            .collect();
        (Bytes::from(buf), entries)
    }

    /// The payloads' first bytes of every batch queued on `rx`.
    fn received(rx: &Receiver<Delivery>) -> Vec<u8> {
        rx.try_iter()
            .flat_map(|d| match d {
                Delivery::Batch(b) => b
                    .entries
                    .iter()
                    .map(|e| e.message(&b.chunk, None).unwrap().payload[0])
                    .collect::<Vec<_>>(),
                Delivery::Err(_) => panic!("an error"),
            })
            .collect()
    }

    fn msg(subject: &str, payload: &[u8]) -> Message {
        Message::new(subject.to_string(), payload.to_vec())
    }

    #[test]
    fn messages_go_to_their_sid_in_order() {
        let mut t = Table::new("_INBOX");
        let (rx1, _) = t.add(1, "a.*", None);
        let (rx2, _) = t.add(2, "b", Some("q"));
        let (chunk, e) = read(&[
            ("a.x", b"0"),
            ("a.x", b"1"),
            ("b", b"y"),
            ("a.x", b"2"),
            ("c", b"z"),
        ]);
        let mut out = Collector::default();
        for (sid, i) in [(1, 0), (1, 1), (2, 2), (1, 3)] {
            assert_eq!(t.route(sid, e[i], NONE, &mut out), Routed::Delivered);
        }
        assert_eq!(t.route(3, e[4], NONE, &mut out), Routed::Unwanted);
        assert!(rx1.is_empty(), "nothing is sent before the read ends");
        out.flush(&chunk);
        assert_eq!(received(&rx1), b"012");
        assert_eq!(received(&rx2), b"y");
    }

    #[test]
    fn pending_limits_drop_count_and_report_once_per_episode() {
        let mut t = Table::new("_INBOX");
        let (rx, c) = t.add(1, "a", None);
        let limits = Limits { msgs: 2, bytes: 0 };
        let (chunk, e) = read(&[("a", b"1"), ("a", b"2"), ("a", b"3"), ("a", b"4")]);
        let mut out = Collector::default();
        assert_eq!(t.route(1, e[0], limits, &mut out), Routed::Delivered);
        assert_eq!(t.route(1, e[1], limits, &mut out), Routed::Delivered);
        assert_eq!(
            t.route(1, e[2], limits, &mut out),
            Routed::Dropped(Some(("a".into(), 1)))
        );
        assert_eq!(t.route(1, e[3], limits, &mut out), Routed::Dropped(None));
        out.flush(&chunk);
        assert_eq!(received(&rx), b"12");
        // The reader takes one: room again, and the next drop starts a new episode.
        c.taken_msgs.fetch_add(1, Ordering::Relaxed);
        c.taken_bytes
            .fetch_add(e[0].held() as u64, Ordering::Relaxed);
        let (chunk, e) = read(&[("a", b"5"), ("a", b"6")]);
        assert_eq!(t.route(1, e[0], limits, &mut out), Routed::Delivered);
        assert_eq!(
            t.route(1, e[1], limits, &mut out),
            Routed::Dropped(Some(("a".into(), 3)))
        );
        out.flush(&chunk);
        assert_eq!(received(&rx), b"5");
        assert_eq!(c.dropped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn byte_limits_count_what_a_message_holds() {
        let mut t = Table::new("_INBOX");
        let (_rx, c) = t.add(1, "a", None);
        let (_chunk, e) = read(&[("a", &[7; 100]), ("a", &[7; 100])]);
        let held = e[0].held();
        assert!(
            held > 100 + ENTRY_OVERHEAD,
            "payload, subject, line and entry"
        );
        let limits = Limits {
            msgs: 0,
            bytes: 2 * held - 1,
        };
        let mut out = Collector::default();
        assert_eq!(t.route(1, e[0], limits, &mut out), Routed::Delivered);
        assert!(matches!(
            t.route(1, e[1], limits, &mut out),
            Routed::Dropped(_)
        ));
        assert_eq!(c.queued_bytes.load(Ordering::Relaxed), held as u64);
    }

    #[test]
    fn auto_unsubscribe_counts_dropped_messages_and_removes_the_entry() {
        let mut t = Table::new("_INBOX");
        let (rx, _) = t.add(1, "a", None);
        t.unsubscribe(1, Some(3));
        let limits = Limits { msgs: 1, bytes: 0 };
        let (chunk, e) = read(&[("a", b"1"), ("a", b"2"), ("a", b"3"), ("a", b"4")]);
        let mut out = Collector::default();
        assert_eq!(t.route(1, e[0], limits, &mut out), Routed::Delivered);
        assert!(matches!(
            t.route(1, e[1], limits, &mut out),
            Routed::Dropped(_)
        ));
        assert!(matches!(
            t.route(1, e[2], limits, &mut out),
            Routed::Dropped(_)
        ));
        assert!(t.subs.is_empty(), "the third message ends the subscription");
        assert_eq!(t.route(1, e[3], limits, &mut out), Routed::Unwanted);
        out.flush(&chunk);
        assert_eq!(received(&rx), b"1");
        assert!(
            matches!(
                rx.try_recv(),
                Err(crossbeam_channel::TryRecvError::Disconnected)
            ),
            "the queue ends after its last batch"
        );
    }

    #[test]
    fn the_last_message_of_an_auto_unsubscribe_is_delivered_before_the_queue_ends() {
        let mut t = Table::new("_INBOX");
        let (rx, _) = t.add(1, "a", None);
        t.unsubscribe(1, Some(2));
        let (chunk, e) = read(&[("a", b"1"), ("a", b"2")]);
        let mut out = Collector::default();
        assert_eq!(t.route(1, e[0], NONE, &mut out), Routed::Delivered);
        assert_eq!(t.route(1, e[1], NONE, &mut out), Routed::Delivered);
        assert!(t.subs.is_empty());
        out.flush(&chunk);
        assert_eq!(received(&rx), b"12");
        assert!(matches!(
            rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn replies_reach_their_request_and_no_responders_is_an_error() {
        let mut t = Table::new("_INBOX");
        let mut next = 10;
        let (reply, rx, first) = t.add_waiter("svc", false, || {
            next += 1;
            next
        });
        let (sid, wildcard) = first.expect("first request creates the inbox");
        assert_eq!(sid, 11);
        assert!(t.is_inbox(sid) && !t.is_inbox(0) && !t.is_inbox(12));
        assert!(reply.starts_with(wildcard.trim_end_matches('*')));
        let (reply2, rx2, again) = t.add_waiter("svc2", false, || unreachable!());
        assert!(again.is_none());
        assert_eq!(t.reply(msg(&reply, b"ok")), Routed::Delivered);
        assert_eq!(&rx.try_recv().unwrap().unwrap().payload[..], b"ok");
        // A second reply to a single request: nobody waits for it any more.
        assert_eq!(t.reply(msg(&reply, b"late")), Routed::Unwanted);
        let mut h = Headers::new();
        h.set_status(503, None);
        let nr = msg(&reply2, b"").with_headers(h);
        assert_eq!(t.reply(nr), Routed::Delivered);
        assert_eq!(
            rx2.try_recv().unwrap().unwrap_err().kind(),
            ErrorKind::NoResponders
        );
    }

    #[test]
    fn replay_restores_subscriptions_in_sid_order_with_remaining_counts() {
        let mut t = Table::new("_INBOX");
        let _a = t.add(5, "x", None);
        let _b = t.add(2, "y", Some("q"));
        t.unsubscribe(5, Some(4));
        let (_chunk, e) = read(&[("x", b"")]);
        t.route(5, e[0], NONE, &mut Collector::default());
        let (_r, _rx, _) = t.add_waiter("s", false, || 7);
        let replay = t.replay();
        let text = String::from_utf8(replay.bytes.clone()).unwrap();
        let inbox_sub = format!("SUB {}* 7\r\n", t.prefix);
        assert_eq!(
            text,
            format!("SUB y q 2\r\nSUB x 5\r\nUNSUB 5 3\r\n{inbox_sub}")
        );
    }

    #[test]
    fn a_refused_inbox_fails_every_request() {
        let mut t = Table::new("_INBOX");
        let (_reply, rx, first) = t.add_waiter("s", false, || 1);
        let (_, wildcard) = first.unwrap();
        let err = Error::bare(ErrorKind::PermissionViolation);
        t.refuse_subscription(&wildcard, None, &err);
        assert_eq!(
            rx.try_recv().unwrap().unwrap_err().kind(),
            ErrorKind::PermissionViolation
        );
        assert_eq!(t.inbox_sid(), 0);
    }

    fn delivered(subject: &str) -> Delivered<'_> {
        Delivered {
            subject,
            headers: None,
            payload: b"{}",
        }
    }

    /// A dispatch callback that records what it is given.
    fn recorder() -> (Dispatch, Arc<parking_lot::Mutex<Vec<String>>>) {
        let got = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let g = got.clone();
        let f = Dispatch::new(move |run| {
            for d in run {
                g.lock().push(match d {
                    Ok(m) => m.subject.to_string(),
                    Err(e) => format!("error {:?}", e.kind()),
                })
            }
        });
        (f, got)
    }

    #[test]
    fn a_dispatch_subscription_is_found_by_its_sid() {
        let mut t = Table::new("_INBOX");
        let (_rx, _) = t.add(1, "a", None);
        assert!(t.dispatch_for(2).is_none());
        let (f, got) = recorder();
        t.add_dispatch(2, "acks.*", f.clone());
        assert_eq!(t.dispatch_for(2), Some(f));
        assert!(
            t.dispatch_for(1).is_none(),
            "a queue subscription is not one"
        );
        t.dispatch_for(2)
            .unwrap()
            .call([Ok(delivered("acks.0")), Ok(delivered("acks.1"))].into_iter());
        assert_eq!(*got.lock(), ["acks.0", "acks.1"]);
        assert!(t.remove_dispatch(2));
        assert!(!t.remove_dispatch(2));
        assert!(t.dispatch_for(2).is_none());
    }

    #[test]
    fn a_panicking_dispatch_callback_is_contained() {
        let f = Dispatch::new(|_| panic!("boom"));
        f.call(std::iter::once(Ok(delivered("x"))));
        let (ok, got) = recorder();
        ok.call(std::iter::once(Ok(delivered("y"))));
        assert_eq!(*got.lock(), ["y"]);
    }

    #[test]
    fn replay_includes_dispatch_subscriptions_in_sid_order() {
        let mut t = Table::new("_INBOX");
        let _a = t.add(3, "x", None);
        let (f, _) = recorder();
        t.add_dispatch(2, "acks.*", f.clone());
        t.add_dispatch(4, "more.*", f);
        let text = String::from_utf8(t.replay().bytes.clone()).unwrap();
        assert_eq!(text, "SUB acks.* 2\r\nSUB x 3\r\nSUB more.* 4\r\n");
        t.clear();
        assert!(t.replay().bytes.is_empty());
        assert!(t.dispatch_for(2).is_none());
    }

    #[test]
    fn a_refused_dispatch_subscription_is_ended_and_returned() {
        let mut t = Table::new("_INBOX");
        let (f, got) = recorder();
        t.add_dispatch(1, "acks.*", f.clone());
        t.add_dispatch(2, "other.*", f);
        assert!(t.refuse_dispatch("acks.*", Some("q")).is_empty());
        assert!(t.refuse_dispatch("nope", None).is_empty());
        let refused = t.refuse_dispatch("acks.*", None);
        assert_eq!(refused.len(), 1);
        refused[0].call(std::iter::once(Err(Error::bare(
            ErrorKind::PermissionViolation,
        ))));
        assert_eq!(*got.lock(), ["error PermissionViolation"]);
        assert!(t.dispatch_for(1).is_none());
        assert!(t.dispatch_for(2).is_some());
    }
}
