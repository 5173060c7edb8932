//! [`Subscription`]: a queue of messages for one subject, read as an iterator.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError};
use parking_lot::Mutex;

use crate::connection::batch::Batch;
use crate::connection::table::{Delivery, SubCounters};
use crate::connection::Handle;
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::time::Wait;

/// Messages arriving on a subject, in order.
///
/// A `Subscription` is an [`Iterator`] whose `next` blocks until a message arrives and returns
/// `None` once the subscription has ended (unsubscribed, drained, auto-unsubscribed, refused by
/// the server, or its connection closed) and every queued message has been read. Use
/// [`next_timeout`](Subscription::next_timeout) to wait with a bound and learn why it ended,
/// or [`try_next`](Subscription::try_next) not to wait.
///
/// Messages wait in the subscription's own queue, filled by the connection's reader thread,
/// which never blocks on a slow reader: past the pending limits
/// ([`Options::pending_limits`](crate::Options::pending_limits)) messages are dropped, counted
/// in [`dropped`](Subscription::dropped) and reported as an
/// [`Event::SlowConsumer`](crate::Event::SlowConsumer).
///
/// Dropping a subscription unsubscribes. A live subscription keeps its connection open.
pub struct Subscription {
    handle: Arc<Handle>,
    sid: u64,
    subject: String,
    queue: Option<String>,
    rx: Receiver<Delivery>,
    /// Batches taken from `rx` and not yet read through.
    taken: Mutex<Cursor>,
    counters: Arc<SubCounters>,
    /// The first message must arrive by then, or the subscription ends.
    first_deadline: Option<Instant>,
    /// Set once the first-message timeout passed: the error every later call returns.
    expired: OnceLock<Error>,
}

impl Subscription {
    pub(crate) fn new(
        handle: Arc<Handle>,
        sid: u64,
        subject: String,
        queue: Option<String>,
        rx: Receiver<Delivery>,
        counters: Arc<SubCounters>,
        first_timeout: Option<Duration>,
    ) -> Subscription {
        Subscription {
            handle,
            sid,
            subject,
            queue,
            rx,
            taken: Mutex::new(Cursor::default()),
            counters,
            first_deadline: first_timeout.map(crate::time::deadline_after),
            expired: OnceLock::new(),
        }
    }

    /// The subject (possibly with wildcards) this subscription listens on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The queue group, for a queue subscription.
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    /// The subscription id used on the wire.
    pub fn sid(&self) -> u64 {
        self.sid
    }

    /// The next message of the batches already taken from the queue, if any: no channel, no
    /// clock (JetStream's consumers look here before working out how long they may wait).
    #[inline]
    pub(crate) fn next_taken(&self) -> Option<Message> {
        let mut cursor = self.taken.lock();
        loop {
            let Cursor { batches, next } = &mut *cursor;
            let batch = batches.front()?;
            let Some(entry) = batch.entries.get(*next) else {
                batches.pop_front();
                *next = 0;
                continue;
            };
            *next += 1;
            let made = entry.message(&batch.chunk, Some(&self.handle.shared));
            // Only this function writes the taken counts, always holding the cursor: plain
            // stores, no read-modify-write instruction per message.
            let c = &self.counters;
            let (msgs, bytes) = (&c.taken_msgs, &c.taken_bytes);
            msgs.store(msgs.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            bytes.store(
                bytes.load(Ordering::Relaxed) + entry.held() as u64,
                Ordering::Relaxed,
            );
            match made {
                Ok(m) => return Some(m),
                Err(e) => {
                    // One unreadable header block spoils one message, not the subscription.
                    log::warn!("dropping a message on '{}': {e:#}", self.subject);
                    self.handle
                        .shared
                        .emit(crate::Event::ServerError { error: e });
                }
            }
        }
    }

    fn ended(&self) -> Error {
        if let Some(e) = self.handle.shared.outbound.error() {
            return e;
        }
        Error::new(
            ErrorKind::Unsubscribed,
            format!("the subscription to '{}' has ended", self.subject),
        )
    }

    /// The one receive path: the next message, waiting as `wait` says (the clock is read only
    /// when nothing is queued).
    /// Applies the first-message timeout ([`SubscribeOptions::timeout`]); with `report_drops`,
    /// reports drops once per episode (only `next_timeout` does, as nats.go's `NextMsg`).
    fn recv(&self, mut wait: Wait, report_drops: bool) -> Result<Message> {
        if let Some(e) = self.expired.get() {
            return Err(e.clone());
        }
        let c = &self.counters;
        // Plain loads in the common case; the swap only when there is something to report.
        let dropped = if report_drops {
            c.dropped.load(Ordering::Relaxed)
        } else {
            0
        };
        if dropped > c.dropped_reported.load(Ordering::Relaxed) {
            let reported = c.dropped_reported.swap(dropped, Ordering::Relaxed);
            if dropped > reported {
                return Err(Error::new(
                    ErrorKind::SlowConsumer,
                    format!(
                        "{} messages on '{}' dropped: the subscription's pending limits were reached",
                        dropped - reported,
                        self.subject
                    ),
                ));
            }
        }
        let mut first_due = None;
        if let Some(fd) = self.first_deadline {
            match c.first_at.get() {
                Some(t) if *t <= fd => {}
                _ if Instant::now() >= fd => return Err(self.expire()),
                _ => first_due = Some(fd),
            }
        }
        let got = loop {
            if let Some(m) = self.next_taken() {
                return Ok(m);
            }
            // About to wait for messages: what was left to send lazily (acks) goes now.
            self.handle.shared.outbound.send_lazy();
            let until = match (wait.deadline(), first_due) {
                (Some(d), Some(fd)) => Some(d.min(fd)),
                (d, fd) => d.or(fd),
            };
            let got = match until {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => self.rx.recv_deadline(d),
            };
            match got {
                Ok(Delivery::Batch(b)) => self.taken.lock().batches.push_back(b),
                Ok(Delivery::Err(e)) => return Err(e),
                Err(e) => break e,
            }
        };
        match got {
            RecvTimeoutError::Timeout if first_due.is_some_and(|fd| Instant::now() >= fd) => {
                Err(self.expire())
            }
            RecvTimeoutError::Timeout => Err(Error::new(
                ErrorKind::Timeout,
                format!("no message on '{}' in time", self.subject),
            )),
            RecvTimeoutError::Disconnected => Err(self.ended()),
        }
    }

    /// No first message came within the subscription's timeout: it ends (nats.ws `timeout`).
    fn expire(&self) -> Error {
        let e = self
            .expired
            .get_or_init(|| {
                let _ = self.handle.shared.unsubscribe(self.sid, None);
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no message on '{}' within the subscription's timeout; it has ended",
                        self.subject
                    ),
                )
            })
            .clone();
        e
    }

    /// Waits up to `timeout` for the next message.
    ///
    /// Errors: [`ErrorKind::Timeout`] when nothing came (or, once and for good, when the
    /// subscription's own first-message timeout passed: see [`SubscribeOptions::timeout`]);
    /// [`ErrorKind::PermissionViolation`] when the server refused the subscription;
    /// [`ErrorKind::Unsubscribed`] or [`ErrorKind::Closed`] once it has ended and its queue is
    /// empty.
    ///
    /// Once per episode of drops (the pending limits were reached and messages were dropped
    /// since the last call), it returns [`ErrorKind::SlowConsumer`] instead, as nats.go's
    /// `NextMsg` does; the queued messages stay and the next call returns them.
    pub fn next_timeout(&self, timeout: Duration) -> Result<Message> {
        self.recv(Wait::For(timeout), true)
            .map_err(|e| match e.kind() {
                ErrorKind::Timeout if self.expired.get().is_none() => Error::new(
                    ErrorKind::Timeout,
                    format!("no message on '{}' within {timeout:?}", self.subject),
                ),
                _ => e,
            })
    }

    /// The next message if one is queued, without waiting.
    pub fn try_next(&self) -> Option<Message> {
        self.recv(Wait::Now, false).ok()
    }

    /// The next message, blocking; `Err` with why the subscription ended.
    pub(crate) fn next_or_end(&self) -> Result<Message> {
        self.recv(Wait::Forever, false)
    }

    /// A blocking iterator over this subscription's messages, by reference.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self)
    }

    /// A non-blocking iterator: the messages queued now.
    pub fn try_iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || self.try_next())
    }

    #[inline]
    fn blocking_next(&self) -> Option<Message> {
        // The common case first, built in place: a message already taken from the queue.
        if self.first_deadline.is_none() && self.expired.get().is_none() {
            if let Some(m) = self.next_taken() {
                return Some(m);
            }
        }
        match self.next_or_end() {
            Ok(m) => Some(m),
            Err(e) => {
                log::debug!("subscription ended: {e}");
                None
            }
        }
    }

    /// The queue's receiving end, so one thread can wait on several subscriptions at once
    /// with crossbeam's `Select` (the services' discovery thread, whose subscriptions have no
    /// first-message timeout). Read what it selects with [`accept`](Subscription::accept).
    #[cfg_attr(not(feature = "service"), allow(dead_code))]
    pub(crate) fn receiver(&self) -> &Receiver<Delivery> {
        &self.rx
    }

    /// What `next` makes of one receive on [`receiver`](Subscription::receiver): the first
    /// message of what came (counted as read; read the rest with
    /// [`try_next`](Subscription::try_next)), or `None` once the subscription has ended.
    #[cfg_attr(not(feature = "service"), allow(dead_code))]
    pub(crate) fn accept(
        &self,
        received: std::result::Result<Delivery, RecvError>,
    ) -> Option<Message> {
        match received {
            Ok(Delivery::Batch(b)) => {
                self.taken.lock().batches.push_back(b);
                self.next_taken()
            }
            Ok(Delivery::Err(e)) => {
                log::debug!("subscription ended: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Unsubscribes through a shared reference, if still subscribed (what dropping does; a
    /// service endpoint shares its subscription with the requests it hands out).
    pub(crate) fn unsubscribe_now(&self) {
        let _ = self.handle.shared.unsubscribe_if_live(self.sid);
    }

    /// Unsubscribes now. Messages still queued are discarded.
    pub fn unsubscribe(self) -> Result<()> {
        // This removes the table entry, so Drop sends nothing more.
        self.handle.shared.unsubscribe(self.sid, None)
    }

    /// Ends the subscription after `n` messages in total (counting those already delivered,
    /// as nats.go's `AutoUnsubscribe` does); the server stops sending then, and the iterator
    /// ends after the `n`th.
    pub fn unsubscribe_after(&self, n: u64) -> Result<()> {
        self.handle.shared.unsubscribe(self.sid, Some(n))
    }

    /// Unsubscribes and waits (up to [`Options::drain_timeout`](crate::Options::drain_timeout))
    /// until every message the server sent before the unsubscribe is queued here; the iterator
    /// then yields them and ends. Nothing already sent to this subscription is lost.
    pub fn drain(&self) -> Result<()> {
        let shared = &self.handle.shared;
        shared.drain_subscriptions(&[self.sid], shared.opts.drain_timeout)
    }

    pub(crate) fn shared(&self) -> &Arc<crate::connection::Shared> {
        &self.handle.shared
    }

    pub(crate) fn counters(&self) -> &Arc<SubCounters> {
        &self.counters
    }

    /// Messages dropped because this subscription's pending limits were reached.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Messages delivered to this subscription and read so far.
    pub fn delivered(&self) -> u64 {
        self.counters.taken_msgs.load(Ordering::Relaxed)
    }

    /// Messages queued and not yet read, and the bytes they hold (payload, headers, subject,
    /// reply, and a fixed per-message overhead: what the pending byte limit counts).
    pub fn pending(&self) -> (usize, usize) {
        let c = &self.counters;
        let bytes = c
            .queued_bytes
            .load(Ordering::Relaxed)
            .saturating_sub(c.taken_bytes.load(Ordering::Relaxed));
        let msgs = c
            .queued_msgs
            .load(Ordering::Relaxed)
            .saturating_sub(c.taken_msgs.load(Ordering::Relaxed));
        (msgs as usize, bytes as usize)
    }
}

/// Batches a subscription took from its queue: `next` is the index of the first unread entry
/// of the front batch.
#[derive(Default)]
struct Cursor {
    batches: std::collections::VecDeque<Batch>,
    next: usize,
}

/// [`Subscription::drain`] for several subscriptions of one connection with a single round
/// trip bounded by `timeout` (a service's stop drains its endpoints, then its nine discovery
/// subscriptions, this way).
#[cfg_attr(not(feature = "service"), allow(dead_code))]
pub(crate) fn drain_all(subs: &[&Subscription], timeout: Duration) -> Result<()> {
    let Some(first) = subs.first() else {
        return Ok(());
    };
    let sids: Vec<u64> = subs.iter().map(|s| s.sid).collect();
    first.handle.shared.drain_subscriptions(&sids, timeout)
}

impl Iterator for Subscription {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        self.blocking_next()
    }
}

/// A blocking iterator over a borrowed [`Subscription`].
pub struct Iter<'a>(&'a Subscription);

impl Iterator for Iter<'_> {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        self.0.blocking_next()
    }
}

impl<'a> IntoIterator for &'a Subscription {
    type Item = Message;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.unsubscribe_now();
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("sid", &self.sid)
            .field("subject", &self.subject)
            .field("queue", &self.queue)
            .finish()
    }
}

/// Options for [`Connection::subscribe_with`](crate::Connection::subscribe_with) and
/// [`Connection::subscribe_with_handler`](crate::Connection::subscribe_with_handler), as nats.ws's
/// `SubscriptionOptions`.
#[derive(Debug, Clone, Default)]
pub struct SubscribeOptions {
    pub(crate) queue: Option<String>,
    pub(crate) max: Option<u64>,
    pub(crate) timeout: Option<Duration>,
}

impl SubscribeOptions {
    /// No queue group, no limit, no timeout.
    pub fn new() -> SubscribeOptions {
        SubscribeOptions::default()
    }

    /// Join queue group `queue`: each message goes to one member of the group.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// End after `n` messages (sent with the SUB as `UNSUB sid n`, as nats.ws's `max`).
    pub fn max(mut self, n: u64) -> Self {
        self.max = Some(n);
        self
    }

    /// End the subscription with [`ErrorKind::Timeout`] if no first message arrives within
    /// `timeout` of subscribing (nats.ws's `timeout`; the first message cancels it).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// One subscription of a connection, from [`Connection::subscriptions`](crate::Connection::subscriptions).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// The subscription id used on the wire.
    pub sid: u64,
    /// The subject (possibly with wildcards).
    pub subject: String,
    /// The queue group, if any.
    pub queue: Option<String>,
    /// Messages queued and not yet read.
    pub pending_msgs: u64,
    /// Bytes those messages hold (what the pending byte limit counts).
    pub pending_bytes: u64,
    /// Messages read so far.
    pub delivered: u64,
    /// Messages dropped because the pending limits were reached.
    pub dropped: u64,
    /// The total after which the subscription ends, if one was set.
    pub max: Option<u64>,
}
