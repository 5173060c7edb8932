//! [`Subscription`]: a queue of messages for one subject, read as an iterator.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError, TryRecvError};

use crate::connection::table::{held, Delivery, SubCounters};
use crate::connection::Handle;
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;

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
    counters: Arc<SubCounters>,
}

impl Subscription {
    pub(crate) fn new(
        handle: Arc<Handle>,
        sid: u64,
        subject: String,
        queue: Option<String>,
        rx: Receiver<Delivery>,
        counters: Arc<SubCounters>,
    ) -> Subscription {
        Subscription {
            handle,
            sid,
            subject,
            queue,
            rx,
            counters,
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

    fn taken(&self, msg: &Message) {
        self.counters.taken_msgs.fetch_add(1, Ordering::Relaxed);
        self.counters
            .taken_bytes
            .fetch_add(held(msg) as u64, Ordering::Relaxed);
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

    /// Waits up to `timeout` for the next message.
    ///
    /// Errors: [`ErrorKind::Timeout`] when nothing came; [`ErrorKind::PermissionViolation`] when
    /// the server refused the subscription; [`ErrorKind::Unsubscribed`] or
    /// [`ErrorKind::Closed`] once it has ended and its queue is empty.
    ///
    /// Once per episode of drops (the pending limits were reached and messages were dropped
    /// since the last call), it returns [`ErrorKind::SlowConsumer`] instead, as nats.go's
    /// `NextMsg` does; the queued messages stay and the next call returns them.
    pub fn next_timeout(&self, timeout: Duration) -> Result<Message> {
        let c = &self.counters;
        let dropped = c.dropped.load(Ordering::Relaxed);
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
        match self.rx.recv_timeout(timeout) {
            Ok(Delivery::Msg(m)) => {
                self.taken(&m);
                Ok(m)
            }
            Ok(Delivery::Err(e)) => Err(e),
            Err(RecvTimeoutError::Timeout) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no message on '{}' within {timeout:?}", self.subject),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(self.ended()),
        }
    }

    /// The next message if one is queued, without waiting.
    pub fn try_next(&self) -> Option<Message> {
        loop {
            match self.rx.try_recv() {
                Ok(Delivery::Msg(m)) => {
                    self.taken(&m);
                    return Some(m);
                }
                Ok(Delivery::Err(e)) => log::debug!("subscription ended: {e}"),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// A blocking iterator over this subscription's messages, by reference.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self)
    }

    /// A non-blocking iterator: the messages queued now.
    pub fn try_iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || self.try_next())
    }

    fn blocking_next(&self) -> Option<Message> {
        self.accept(self.rx.recv())
    }

    /// The queue's receiving end, so one thread can wait on several subscriptions at once
    /// with crossbeam's `Select` (the services' discovery thread). Read what it selects with
    /// [`accept`](Subscription::accept).
    #[cfg_attr(not(feature = "service"), allow(dead_code))]
    pub(crate) fn receiver(&self) -> &Receiver<Delivery> {
        &self.rx
    }

    /// What `next` makes of one receive on [`receiver`](Subscription::receiver): the message
    /// (counted as read), or `None` once the subscription has ended.
    #[cfg_attr(not(feature = "service"), allow(dead_code))]
    pub(crate) fn accept(
        &self,
        received: std::result::Result<Delivery, RecvError>,
    ) -> Option<Message> {
        match received {
            Ok(Delivery::Msg(m)) => {
                self.taken(&m);
                Some(m)
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
        let shared = &self.handle.shared;
        if shared.is_subscribed(self.sid) {
            let _ = shared.unsubscribe(self.sid, None);
        }
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
        drain_all(&[self], self.handle.shared.opts.drain_timeout)
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
        (self.rx.len(), bytes as usize)
    }
}

/// [`Subscription::drain`] for several subscriptions of one connection with a single round
/// trip bounded by `timeout` (a service's stop drains its endpoints, then its nine discovery
/// subscriptions, this way).
pub(crate) fn drain_all(subs: &[&Subscription], timeout: Duration) -> Result<()> {
    let Some(first) = subs.first() else {
        return Ok(());
    };
    let shared = &first.handle.shared;
    for sub in subs {
        shared.send_control(|b| crate::proto::encode::unsub(b, sub.sid, None))?;
    }
    let r = shared.flush(timeout);
    for sub in subs {
        shared.forget_sub(sub.sid);
    }
    if r.is_err() {
        // The UNSUBs may have gone down with a connection while a reconnect replayed the
        // SUBs. Now that the entries are gone nothing replays them: say UNSUB again (a no-op
        // while disconnected, and harmless if the server already has them).
        for sub in subs {
            let _ = shared.send_control(|b| crate::proto::encode::unsub(b, sub.sid, None));
        }
    }
    r
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
